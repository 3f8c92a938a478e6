using System.Diagnostics;
using System.Net.Sockets;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A throw-away redis-server on a free port (installed by scripts/test.sh), with no persistence: on loopback, and on
/// <c>alsoOn</c> if given (an address other hosts' namespaces reach).
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port) => (_process, Port) = (process, port);

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync(System.Net.IPAddress? alsoOn = null)
    {
        var port = TaskStreamServer.FreeTcpPort();
        var start = new ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", port.ToString(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1" },
            RedirectStandardOutput = true,
        };
        if (alsoOn is not null)
        {
            // Protected mode serves only loopback clients while no password is set; the other address is a test's private LAN.
            foreach (var argument in new[] { alsoOn.ToString(), "--protected-mode", "no" })
            {
                start.ArgumentList.Add(argument);
            }
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new InvalidOperationException("redis-server is not installed: run the README's test command (scripts/test.sh).", exception);
        }

        process.BeginOutputReadLine();
        var server = new RedisServer(process, port);
        await Eventually.TrueAsync(server.AnswersPingAsync, TimeSpan.FromSeconds(10), "redis-server answers PING");
        return server;
    }

    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer);
            return System.Text.Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG");
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
