using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// TaskStream:Limits:MaxStreams (503) and MaxStreamsPerClient (429), on hosts paced so that every admitted stream
/// stays open after its first event.
/// </summary>
public sealed class StreamCapTests
{
    private static readonly (string, string)[] Paced =
        [("TaskStream:Streaming:EventIntervalMs", "600000"), ("TaskStream:Limits:RetryAfterSeconds", "7")];

    [Fact]
    public async Task TenStreamsOverTheSiloCapAreRefusedWith503BeforeAnyGrainAndClosingSomeLetsNewOnesIn()
    {
        await using var server = await TaskStreamServer.StartAsync(
            [.. Paced, ("TaskStream:Limits:MaxStreams", "20"), ("TaskStream:Limits:MaxStreamsPerClient", "1000")]);
        var metrics = server.GetService<TaskStreamMetrics>();

        var attempts = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => OpenAsync(server.Http)));
        var open = attempts.Where(a => a.StatusCode == HttpStatusCode.OK).ToList();
        var refused = attempts.Where(a => a.StatusCode != HttpStatusCode.OK).ToList();

        Assert.Equal(20, open.Count);
        Assert.Equal(10, refused.Count);
        foreach (var refusal in refused)
        {
            await AssertRefusalAsync(refusal, HttpStatusCode.ServiceUnavailable, "TaskStream:Limits:MaxStreams");
        }

        // Refused before a grain was rented: only the 20 admitted streams (each has had its first task) activated one.
        await Task.WhenAll(open.Select(FirstEventAsync));
        Assert.Equal((20, 20), (metrics.ActiveStreams, metrics.QueryGrains));
        Assert.Equal((10, 0), (metrics.RefusedBySiloCap, metrics.RefusedByClientCap));
        // The list does not count against the stream caps: it answers while the silo is full of streams.
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/tasks/list")).StatusCode);

        foreach (var stream in open.Take(5))
        {
            stream.Dispose();
        }

        // A closed stream's slot is free once its response has ended.
        for (var i = 0; i < 5; i++)
        {
            await Eventually.TrueAsync(async () => await TryKeepAsync(server.Http, open), TimeSpan.FromSeconds(10),
                "a stream is admitted again once five of the twenty have been closed");
        }

        using var overCap = await OpenAsync(server.Http);
        await AssertRefusalAsync(overCap, HttpStatusCode.ServiceUnavailable, "TaskStream:Limits:MaxStreams");
        Assert.Equal(20, await ActiveStreamsAsync(server.Http));
        open.ForEach(stream => stream.Dispose());
    }

    [Fact]
    public async Task TenStreamsOverTheClientCapAreRefusedWith429WhileAnotherAddressIsStillServed()
    {
        await using var server = await TaskStreamServer.StartAsync(
            [.. Paced, ("TaskStream:Limits:MaxStreams", "1000"), ("TaskStream:Limits:MaxStreamsPerClient", "5")]);
        using var otherClient = FromAddress(server.BaseAddress, IPAddress.Parse("127.0.0.2"));

        var attempts = await Task.WhenAll(Enumerable.Range(0, 15).Select(_ => OpenAsync(server.Http)));
        var open = attempts.Where(a => a.StatusCode == HttpStatusCode.OK).ToList();
        var refused = attempts.Where(a => a.StatusCode != HttpStatusCode.OK).ToList();

        Assert.Equal(5, open.Count);
        Assert.Equal(10, refused.Count);
        foreach (var refusal in refused)
        {
            await AssertRefusalAsync(refusal, HttpStatusCode.TooManyRequests, "TaskStream:Limits:MaxStreamsPerClient");
        }

        // 127.0.0.2 is another client: it gets its own five, and its sixth is refused in turn.
        var others = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => OpenAsync(otherClient)));
        Assert.Equal(5, others.Count(o => o.StatusCode == HttpStatusCode.OK));
        await AssertRefusalAsync(others.Single(o => o.StatusCode != HttpStatusCode.OK), HttpStatusCode.TooManyRequests,
            "TaskStream:Limits:MaxStreamsPerClient");

        open[0].Dispose();
        var refusedMeanwhile = 0;
        await Eventually.TrueAsync(async () =>
        {
            if (await TryKeepAsync(server.Http, open))
            {
                return true;
            }

            refusedMeanwhile++; // the server has not yet seen the close
            return false;
        }, TimeSpan.FromSeconds(10), "the first client is admitted again once it closed one of its five streams");
        Assert.Equal(10, await ActiveStreamsAsync(server.Http));
        Assert.Equal(11 + refusedMeanwhile, server.GetService<TaskStreamMetrics>().RefusedByClientCap);
        open.ForEach(stream => stream.Dispose());
        Array.ForEach(others, stream => stream.Dispose());
    }

    private static async Task<HttpResponseMessage> OpenAsync(HttpClient http) =>
        await http.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead);

    private static async Task FirstEventAsync(HttpResponseMessage response)
    {
        await foreach (var e in Sse.ParseAsync(await response.Content.ReadAsStreamAsync()))
        {
            Assert.Equal(("task", "1"), (e.Type, e.Id));
            return;
        }
    }

    /// <summary>Opens one more stream and keeps it if it was admitted.</summary>
    private static async Task<bool> TryKeepAsync(HttpClient http, List<HttpResponseMessage> open)
    {
        var response = await OpenAsync(http);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            response.Dispose();
            return false;
        }

        open.Add(response);
        return true;
    }

    private static async Task AssertRefusalAsync(HttpResponseMessage response, HttpStatusCode status, string setting)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.Contains(setting, problem.GetProperty("detail").GetString());
    }

    private static async Task<long> ActiveStreamsAsync(HttpClient http) =>
        JsonDocument.Parse(await http.GetStringAsync("/status")).RootElement.GetProperty("active_streams").GetInt64();

    /// <summary>A client whose connections come from another loopback address, so the server sees another client.</summary>
    private static HttpClient FromAddress(Uri server, IPAddress local) =>
        new(new SocketsHttpHandler
        {
            MaxResponseDrainSize = 0,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.Bind(new IPEndPoint(local, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        { BaseAddress = server };
}
