using System.Net;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// Who a client is cannot be claimed in a header: X-Forwarded-For counts only from proxies named in
/// TaskStream:Network:TrustedProxies, even with ASP.NET Core's ASPNETCORE_FORWARDEDHEADERS_ENABLED switch on.
/// The remote clients are network namespaces of each test's own.
/// </summary>
public sealed class ForwardedHeadersTests
{
    // ASPNETCORE_FORWARDEDHEADERS_ENABLED=true is this configuration key; set as a setting, it stays inside this test's host.
    private static readonly (string, string) ForwardedHeadersEnabled = ("ForwardedHeaders_Enabled", "true");

    private static readonly (string, string)[] Paced =
        [("TaskStream:Streaming:EventIntervalMs", "600000"), ("TaskStream:Limits:MaxStreamsPerClient", "2")];

    [Fact]
    public async Task WithForwardedHeadersSwitchedOnARemoteClientClaimingToBeLoopbackIsStillRefusedWritesAndTheDashboard()
    {
        using var network = RemoteNetwork.Create();
        await using var server = await StartAsync(network, ForwardedHeadersEnabled, ("TaskStream:Dashboard:Enabled", "true"));
        using var remote = RemoteClient(server, network);
        var before = await server.Http.GetStringAsync("/tasks/list");

        using var write = await remote.SendAsync(Forged(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Forged"}""", token: null), "127.0.0.1"));
        using var dashboard = await remote.SendAsync(Forged(new HttpRequestMessage(HttpMethod.Get, "/dashboard/"), "127.0.0.1"));

        var problem = await WriteHost.AssertProblemAsync(write, HttpStatusCode.Forbidden);
        Assert.Contains("TaskStream:Auth:WriteTokens", problem.GetProperty("detail").GetString());
        await WriteHost.AssertProblemAsync(dashboard, HttpStatusCode.Forbidden);
        Assert.Equal(before, await server.Http.GetStringAsync("/tasks/list"));
    }

    [Fact]
    public async Task ASiloProcessStartedWithASPNETCORE_FORWARDEDHEADERS_ENABLEDStillRefusesARemoteClientClaimingToBeLoopback()
    {
        using var network = RemoteNetwork.Create();
        var directory = TaskStreamServer.NewDirectory();
        var port = TaskStreamServer.FreeTcpPort();
        try
        {
            await using var silo = await SiloProcess.StartAsync(directory,
                new Dictionary<string, string> { ["ASPNETCORE_FORWARDEDHEADERS_ENABLED"] = "true" },
                ("urls", $"http://127.0.0.1:{port};http://{network.ServerAddress}:{port}"));
            using var remote = network.Client(new Uri($"http://{network.ServerAddress}:{port}"));

            using var write = await remote.SendAsync(Forged(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Forged"}""", token: null), "127.0.0.1"));

            await WriteHost.AssertProblemAsync(write, HttpStatusCode.Forbidden);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task WithForwardedHeadersSwitchedOnARemoteClientInventingAddressesGetsNoFreshStreamAllowance()
    {
        using var network = RemoteNetwork.Create();
        await using var server = await StartAsync(network, [ForwardedHeadersEnabled, .. Paced]);
        using var remote = RemoteClient(server, network);

        using var first = await OpenAsync(remote, forwardedFor: null);
        using var second = await OpenAsync(remote, forwardedFor: null);
        using var invented = await OpenAsync(remote, forwardedFor: "203.0.113.9");

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests), (first.StatusCode, second.StatusCode, invented.StatusCode));
        await WriteHost.AssertProblemAsync(invented, HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task BehindANamedProxyEachForwardedAddressIsAClientOfItsOwn()
    {
        using var network = RemoteNetwork.Create();
        // The namespace plays the proxy.
        await using var server = await StartAsync(network, [.. Paced, ("TaskStream:Network:TrustedProxies:0", network.ClientAddress.ToString())]);
        using var proxy = RemoteClient(server, network);

        var a = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => OpenAsync(proxy, "203.0.113.1")));
        var b = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => OpenAsync(proxy, "203.0.113.2")));
        using var proxyItself = await OpenAsync(proxy, forwardedFor: null);
        // Loopback is no named proxy here: what it forwards is ignored, and it stays this machine (a tokenless write passes).
        using var notAProxy = await server.Http.SendAsync(Forged(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Local"}""", token: null), "198.51.100.7"));

        Assert.Equal(2, a.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (b[0].StatusCode, b[1].StatusCode));
        await WriteHost.AssertProblemAsync(a.Single(r => r.StatusCode != HttpStatusCode.OK), HttpStatusCode.TooManyRequests);
        Assert.Equal(HttpStatusCode.OK, proxyItself.StatusCode);
        Assert.Equal(HttpStatusCode.Created, notAProxy.StatusCode);
        foreach (var response in a.Concat(b))
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task BehindANamedProxyOnThisMachineItsClientsAreNotTrustedAsLoopback()
    {
        // A single value (no :0) is one proxy, as TaskStream__Network__TrustedProxies=127.0.0.1 would set it.
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Network:TrustedProxies", "127.0.0.1"));

        using var proxied = await server.Http.SendAsync(Forged(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Via the proxy"}""", token: null), "198.51.100.7"));
        using var local = await server.Http.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"On this machine"}""", token: null));

        await WriteHost.AssertProblemAsync(proxied, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.Created, local.StatusCode);
    }

    [Theory]
    [InlineData("proxy.example")]
    [InlineData("10.0.0.0/33")]
    [InlineData("")]
    public async Task ATrustedProxyThatIsNotAnAddressOrNetworkStopsTheHostAtStartNamingTheKey(string proxy)
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => TaskStreamServer.StartAsync(("TaskStream:Network:TrustedProxies:0", proxy)));

        Assert.Contains("TaskStream:Network:TrustedProxies", failure.Message);
    }

    private static Task<TaskStreamServer> StartAsync(RemoteNetwork network, params (string, string)[] settings) =>
        TaskStreamServer.StartAsync([("urls", $"http://127.0.0.1:0;http://{network.ServerAddress}:0"), .. settings]);

    private static HttpClient RemoteClient(TaskStreamServer server, RemoteNetwork network) =>
        network.Client(server.Addresses.Single(a => a.Host == network.ServerAddress.ToString()));

    /// <summary>A request claiming to come from <paramref name="forwardedFor"/>; a claim of loopback also says <c>Host: localhost</c>, as a client that sets its own headers can.</summary>
    private static HttpRequestMessage Forged(HttpRequestMessage request, string forwardedFor)
    {
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        if (forwardedFor == "127.0.0.1")
        {
            request.Headers.Host = "localhost";
        }

        return request;
    }

    private static async Task<HttpResponseMessage> OpenAsync(HttpClient http, string? forwardedFor)
    {
        var request = Sse.Get("/tasks/stream");
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }
}
