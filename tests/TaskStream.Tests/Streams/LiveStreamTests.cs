using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Streams that stay open: pacing, heartbeats, and a client that leaves mid-way.</summary>
[Collection(nameof(PacedHost))]
public sealed class LiveStreamTests(PacedHost host)
{
    private HttpClient Http => host.Server.Http;

    [Fact]
    public async Task AHeartbeatCommentFillsEverySilenceLongerThanTheHeartbeatInterval()
    {
        // Events come every 3.5 s, heartbeats after 1 s of silence: at least two comments between events 1 and 2.
        using var response = await Http.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var raw = await ReadUntilAsync(body, text => text.Contains("id: 2\n"), TimeSpan.FromSeconds(10));

        var between = raw[raw.IndexOf("id: 1\n", StringComparison.Ordinal)..raw.IndexOf("id: 2\n", StringComparison.Ordinal)];
        Assert.True(between.Split("\n:\n").Length - 1 >= 2, raw);
        var events = await Sse.ParseAsync(new MemoryStream(Encoding.UTF8.GetBytes(raw))).ToListAsync();
        Assert.Equal(["task", "task"], events.Select(e => e.Type));
    }

    [Fact]
    public async Task PacingSpacesTaskEventsByTheConfiguredInterval()
    {
        using var response = await Http.SendAsync(Sse.Get("/tasks/stream?limit=2"), HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var arrivals = new List<(string Type, TimeSpan At)>();
        var clock = Stopwatch.StartNew();
        await foreach (var e in Sse.ParseAsync(body))
        {
            arrivals.Add((e.Type, clock.Elapsed));
        }

        Assert.Equal(["task", "task", "end"], arrivals.Select(a => a.Type));
        Assert.True(arrivals[1].At - arrivals[0].At >= TimeSpan.FromMilliseconds(3400), $"{arrivals[1].At - arrivals[0].At}");
        // No pause before `end`: the last task closes the stream at once.
        Assert.True(arrivals[2].At - arrivals[1].At < TimeSpan.FromMilliseconds(2000), $"{arrivals[2].At - arrivals[1].At}");
    }

    [Fact]
    public async Task AClientLeavingMidStreamStopsTheGrainQuery()
    {
        var metrics = host.Server.GetService<TaskStream.Grains.TaskStreamMetrics>();
        var response = await Http.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStreamAsync();
        await ReadUntilAsync(body, text => text.Contains("id: 1\n"), TimeSpan.FromSeconds(10));
        await Eventually.TrueAsync(async () => await StatusAsync() is (1, 0) && metrics.RunningQueries == 1, TimeSpan.FromSeconds(5),
            "the stream and its grain query are running, and the query holds no connection while it waits to send task 2");

        await body.DisposeAsync();
        response.Dispose();
        var released = await Eventually.TrueAsync(async () => await StatusAsync() is (0, 0) && metrics.RunningQueries == 0, TimeSpan.FromSeconds(5),
            "the stream ends and the grain's iterator is cancelled once the client has gone");

        // The next event would have come 3.5 s later; the grain must not wait for it (nor for Orleans' 30 s sweep).
        Assert.True(released < TimeSpan.FromSeconds(1), $"released after {released}");
    }

    private async Task<(long ActiveStreams, long OpenConnections)> StatusAsync()
    {
        var status = JsonDocument.Parse(await Http.GetStringAsync("/status")).RootElement;
        return (status.GetProperty("active_streams").GetInt64(), status.GetProperty("open_connections").GetInt64());
    }

    internal static async Task<string> ReadUntilAsync(Stream body, Func<string, bool> done, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!done(text.ToString()))
        {
            var read = await body.ReadAsync(buffer, cancellation.Token);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        return text.ToString();
    }
}
