using System.Net;
using System.Net.Sockets;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// The silo's Orleans ports are for the cluster: no gateway for outside Orleans clients unless it is asked for.
/// </summary>
public sealed class ClosedClusterTests
{
    [Fact]
    public async Task BySettingNothingListensOnTheGatewayPort()
    {
        var gatewayPort = TaskStreamServer.FreeTcpPort();
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Cluster:GatewayPort", gatewayPort.ToString()));

        // Orleans is told to open no gateway: port 0 is its "none". (A connect to the configured port would race
        // with tests beside this one taking the same free port; the positive test below checks the network side.)
        Assert.Equal(0, server.GetService<Microsoft.Extensions.Options.IOptions<Orleans.Configuration.EndpointOptions>>().Value.GatewayPort);
    }

    [Fact]
    public async Task TheGatewaySettingOpensTheGatewayPort()
    {
        var gatewayPort = TaskStreamServer.FreeTcpPort();
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Cluster:Gateway", "true"), ("TaskStream:Cluster:GatewayPort", gatewayPort.ToString()));

        Assert.True(await AcceptsAsync(gatewayPort), $"the gateway listens on {gatewayPort}");
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return false;
        }
    }
}
