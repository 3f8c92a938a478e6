using System.Net;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// One client, one address, for every limit: an IPv4 address, or an IPv6 /64 (a host can use every address of
/// its /64). The clients are addresses of a network namespace of the test's own.
/// </summary>
public sealed class ClientAddressTests
{
    [Fact]
    public async Task AnIpv6ClientIsOneClientForWritesAcrossItsWhole64AsForStreams()
    {
        using var network = RemoteNetwork.Create();
        await using var server = await TaskStreamServer.StartAsync(
            ("urls", $"http://127.0.0.1:0;http://[{network.ServerAddressV6}]:0"),
            ("TaskStream:Limits:WriteBurst", "3"), ("TaskStream:Limits:WritesPerSecond", "1"),
            ("TaskStream:Streaming:EventIntervalMs", "600000"), ("TaskStream:Limits:MaxStreamsPerClient", "1"));
        var remote = server.Addresses.Single(a => a.Host == $"[{network.ServerAddressV6}]");
        using var first = network.Client(remote, network.ClientAddressV6In64(2));
        using var second = network.Client(remote, network.ClientAddressV6In64(3));

        var refused = 0;
        HttpResponseMessage response;
        while ((response = await first.SendAsync(Post())).StatusCode == HttpStatusCode.Forbidden)
        {
            response.Dispose();
            Assert.True(++refused < 20, "no 429 after 20 refused writes in a row");
        }

        using var limited = response;
        using var sameNetwork = await second.SendAsync(Post());
        using var stream = await first.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead);
        using var streamFromTheSame64 = await second.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead);

        Assert.True(refused >= 3, $"only {refused} attempts before the first 429");
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.TooManyRequests), (stream.StatusCode, streamFromTheSame64.StatusCode));
        await WriteHost.AssertProblemAsync(limited, HttpStatusCode.TooManyRequests);
        await WriteHost.AssertProblemAsync(sameNetwork, HttpStatusCode.TooManyRequests);
        await WriteHost.AssertProblemAsync(streamFromTheSame64, HttpStatusCode.TooManyRequests);
    }

    private static HttpRequestMessage Post() => WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"From a /64"}""", token: null);
}
