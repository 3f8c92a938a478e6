using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// A client that asks for a long stream and never reads it: its TCP window fills, the relay's sends wait, and
/// after TaskStream:Limits:SendTimeoutSeconds it is dropped. Runs alone, because it measures the process's heap.
/// </summary>
[Collection(nameof(WholeProcessCollection))]
public sealed class SlowReaderTests
{
    private const int SendTimeoutSeconds = 4;

    [Fact]
    public async Task AClientThatNeverReadsIsDroppedAfterTheSendTimeoutWhileOthersStreamAtFullSpeed()
    {
        // 200,000 tasks are ~24 MB of events: far more than the socket buffers and Kestrel's pipe hold.
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Database:SampleTasks", "200000"), ("TaskStream:Streaming:EventIntervalMs", "0"),
            ("TaskStream:Limits:SendTimeoutSeconds", $"{SendTimeoutSeconds}"));
        var metrics = server.GetService<TaskStreamMetrics>();
        await Sse.ReadAllAsync(server.Http, "/tasks/stream?limit=10000"); // warm: the heap below is measured warm
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);

        // A small receive buffer, so the window fills after a few KB; then the client reads nothing.
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await slow.ConnectAsync(IPAddress.Loopback, server.BaseAddress.Port);
        await slow.SendAsync(Encoding.ASCII.GetBytes("GET /tasks/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"));
        var requested = Stopwatch.StartNew();
        await Eventually.TrueAsync(() => Task.FromResult(slow.Available > 0), TimeSpan.FromSeconds(10), "the slow client's stream starts");

        // Meanwhile another client streams 10,000 tasks to the end, before the stuck one is dropped.
        var clock = Stopwatch.StartNew();
        var other = await Sse.ReadAllAsync(server.Http, "/tasks/stream?limit=10000");
        var otherTook = clock.Elapsed;
        Assert.Equal(Enumerable.Range(1, 10_000).Select(i => (long)i), other.TaskIds);
        Assert.Equal("end", other.Events[^1].Type);
        Assert.True(otherTook < TimeSpan.FromSeconds(SendTimeoutSeconds), $"the other stream took {otherTook}");

        // Still stuck, and the server holds a bounded amount for it: no backlog of the ~22 MB it has not sent.
        var heapStuck = GC.GetTotalMemory(forceFullCollection: true);
        Assert.Equal((1, 0), (metrics.ActiveStreams, metrics.SendTimeouts));
        Assert.True(heapStuck - heapBefore < 8 << 20, $"heap grew by {(heapStuck - heapBefore) >> 10} KB for the stuck client");

        await Eventually.TrueAsync(async () => await StatusAsync(server.Http) is (0, 0) && metrics.RunningQueries == 0,
            TimeSpan.FromSeconds(SendTimeoutSeconds + 15), "the stuck client is dropped and its grain query released");
        var droppedAfter = requested.Elapsed;
        Assert.Equal(1, metrics.SendTimeouts);
        // Its first send waited from some time after the request; the monitor checks five times per timeout.
        Assert.True(droppedAfter >= TimeSpan.FromSeconds(SendTimeoutSeconds), $"dropped after {droppedAfter}");
        Assert.True(droppedAfter < TimeSpan.FromSeconds(SendTimeoutSeconds + 6), $"dropped after {droppedAfter}");
        Console.WriteLine($"slow reader: other stream {otherTook.TotalMilliseconds:F0} ms, heap +{(heapStuck - heapBefore) >> 10} KB while stuck, dropped after {droppedAfter.TotalMilliseconds:F0} ms");

        // Reading now finds the connection ended (what was in flight, then EOF or a reset), not a live stream.
        Assert.True(await SeesEndAsync(slow, TimeSpan.FromSeconds(10)), "the slow client's connection is still open");
    }

    [Fact]
    public async Task AFollowerThatNeverReadsIsDroppedWhileWritesAndAReadingFollowerCarryOn()
    {
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Streaming:EventIntervalMs", "0"), ("TaskStream:Streaming:HeartbeatSeconds", "1"),
            ("TaskStream:Limits:SendTimeoutSeconds", $"{SendTimeoutSeconds}"),
            ("TaskStream:Limits:WritesPerSecond", "1000000"), ("TaskStream:Limits:WriteBurst", "1000000"));
        var metrics = server.GetService<TaskStreamMetrics>();
        using var slow = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await slow.ConnectAsync(IPAddress.Loopback, server.BaseAddress.Port);
        await slow.SendAsync(Encoding.ASCII.GetBytes("GET /tasks/stream?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        await Eventually.TrueAsync(() => Task.FromResult(slow.Available > 0), TimeSpan.FromSeconds(10), "the stuck follower's snapshot starts");

        using var response = await server.Http.SendAsync(Sse.Get("/tasks/stream?follow=true"), HttpCompletionOption.ResponseHeadersRead);
        var live = new TaskCompletionSource();
        var received = 0;
        var reading = Task.Run(async () =>
        {
            await foreach (var e in Sse.ParseAsync(await response.Content.ReadAsStreamAsync()))
            {
                if (e.Type == "live")
                {
                    live.SetResult();
                }
                else if (live.Task.IsCompleted && e.Type == "task")
                {
                    Interlocked.Increment(ref received);
                }
            }
        });
        await live.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // Tasks of ~2 KB each, until the follower that reads nothing has filled its window and the socket buffers,
        // a send to it has waited SendTimeoutSeconds, and it has been dropped. Writing never waits for it.
        var body = JsonSerializer.Serialize(new { title = "Filler", description = new string('d', 2000) });
        var (written, clock) = (0, Stopwatch.StartNew());
        while (metrics.SendTimeouts == 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"not dropped after {written} writes in {clock.Elapsed}");
            await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
            {
                using var created = await server.Http.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", body, token: null));
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            }));
            written += 20;
        }

        await Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref received) == written && metrics.ActiveStreams == 1),
            TimeSpan.FromSeconds(30), $"the stuck follower's stream ends and the reading follower gets all {written} tasks written meanwhile");
        Assert.Equal(1, metrics.SendTimeouts);
        Assert.True(await SeesEndAsync(slow, TimeSpan.FromSeconds(10)), "the stuck follower's connection is still open");
        Console.WriteLine($"stuck follower dropped after {written} writes in {clock.ElapsedMilliseconds} ms");
        response.Dispose();
        await reading.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }); // ends with the response
    }

    private static async Task<(long ActiveStreams, long OpenConnections)> StatusAsync(HttpClient http)
    {
        var status = JsonDocument.Parse(await http.GetStringAsync("/status")).RootElement;
        return (status.GetProperty("active_streams").GetInt64(), status.GetProperty("open_connections").GetInt64());
    }

    private static async Task<bool> SeesEndAsync(Socket socket, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        var buffer = new byte[64 * 1024];
        try
        {
            while (await socket.ReceiveAsync(buffer, cancellation.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
