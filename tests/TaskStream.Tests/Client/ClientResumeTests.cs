using System.Net;
using TaskStream.Client;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// The client's streams through a <see cref="TcpForwarder"/> that resets every connection mid-stream (the server
/// side going away) and then takes connections again: the client resumes by itself with Last-Event-ID.
/// </summary>
[Collection(nameof(ClientHost))]
public sealed class ClientResumeTests(ClientHost host)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AReadCutMidStreamResumesWithEveryTaskOnce()
    {
        // Paced, so the stream is still being written when it is cut.
        await using var paced = await TaskStreamServer.StartAsync(ClientHost.Settings(eventIntervalMs: 50));
        await using var forwarder = new TcpForwarder(new IPEndPoint(IPAddress.Loopback, paced.BaseAddress.Port));
        var connects = new CountingHandler();
        using var http = new HttpClient(connects) { BaseAddress = new Uri($"http://127.0.0.1:{forwarder.Port}") };
        // The server's `retry: 100` stands in for this: waited out, the read could not end within the time allowed.
        var client = new TaskStreamClient(http, new TaskStreamClientOptions { RetryDelay = TimeSpan.FromSeconds(30) });
        var clock = System.Diagnostics.Stopwatch.StartNew();

        List<long> received = [];
        await foreach (var task in client.ReadTasksAsync())
        {
            received.Add(task.Id);
            if (received.Count == 10)
            {
                await forwarder.CutAsync();
                forwarder.Start();
            }
        }

        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)i), received);
        Assert.True(connects.Requests >= 2, $"{connects.Requests} connects");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task AStreamRefusedWithRetryAfterIsTriedAgainAfterIt()
    {
        // One stream per client, and "come back in a second" to a second one.
        await using var capped = await TaskStreamServer.StartAsync(
            [.. ClientHost.Settings(eventIntervalMs: 0), ("TaskStream:Limits:MaxStreamsPerClient", "1"), ("TaskStream:Limits:RetryAfterSeconds", "1")]);
        var connects = new CountingHandler();
        using var http = new HttpClient(connects) { BaseAddress = capped.BaseAddress };
        var client = new TaskStreamClient(http, new TaskStreamClientOptions { RetryDelay = TimeSpan.FromSeconds(30) });
        await using var follower = new FollowRecorder(client);
        await Eventually.TrueAsync(() => follower.HasAsync(f => f.IsLive), Patience, "the follower is live");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var reading = client.ReadTasksAsync().ToListAsync().AsTask();
        // The follow stream, the read (refused), and the read again after Retry-After (refused again, or not).
        await Eventually.TrueAsync(() => Task.FromResult(connects.Requests >= 3), Patience, "the read was sent again");
        await follower.DisposeAsync(); // frees the client's one stream
        var tasks = await reading;

        Assert.Equal(40, tasks.Count);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}: Retry-After, not the 30 s RetryDelay");
    }

    [Fact]
    public async Task AFollowerCutOffGetsEveryChangeMadeMeanwhileOnceInOrder()
    {
        await using var forwarder = new TcpForwarder(new IPEndPoint(IPAddress.Loopback, host.Server.BaseAddress.Port));
        var connects = new CountingHandler();
        using var http = new HttpClient(connects) { BaseAddress = new Uri($"http://127.0.0.1:{forwarder.Port}") };
        // Keeps trying while the forwarder refuses connections, however slow the writes below are.
        var client = new TaskStreamClient(http, new TaskStreamClientOptions { MaxRetries = int.MaxValue });
        await using var follower = new FollowRecorder(client);
        await Eventually.TrueAsync(() => follower.HasAsync(f => f.IsLive), Patience, "the follower is live");

        await forwarder.CutAsync();
        var kept = await host.Client.CreateTaskAsync(new NewTask("Made while cut off"));
        var gone = await host.Client.CreateTaskAsync(new NewTask("Made and deleted while cut off"));
        var done = await host.Client.UpdateTaskAsync(kept.Id, new TaskPatch(Completed: true));
        await host.Client.DeleteTaskAsync(gone.Id);
        forwarder.Start();
        await Eventually.TrueAsync(() => follower.HasAsync(f => f.Events.OfType<TaskRemoved>().Any(r => r.TaskId == gone.Id)),
            Patience, "the follower caught up");

        var caughtUp = follower.Events.SkipWhile(e => e is not StreamLive).Skip(1)
            .Where(e => e is TaskReceived { Task.Id: var id } && (id == kept.Id || id == gone.Id) || e is TaskRemoved).ToList();
        Assert.Collection(caughtUp,
            e => Assert.Equal(kept, Assert.IsType<TaskReceived>(e).Task),
            e => Assert.Equal(gone, Assert.IsType<TaskReceived>(e).Task),
            e => Assert.Equal(done, Assert.IsType<TaskReceived>(e).Task),
            e => Assert.Equal(gone.Id, Assert.IsType<TaskRemoved>(e).TaskId));
        TaskStreamClientTests.AssertIncreasingIds(follower.Events);
        Assert.Equal(await TaskStreamClientTests.ListAllAsync(host.Client, TaskFilter.All), follower.View);
        Assert.True(connects.Requests >= 2, $"{connects.Requests} connects");
    }

    [Fact]
    public async Task AQuietFollowerIsKeptAliveByHeartbeatsAndResumedWhenNothingArrives()
    {
        // The host sends a heartbeat after each quiet second: a 3 s idle timeout never fires (nor does HttpClient's own
        // timeout, which ends with the headers)…
        var steady = new CountingHandler();
        using (var http = new HttpClient(steady) { BaseAddress = host.Server.BaseAddress, Timeout = TimeSpan.FromSeconds(2) })
        {
            await using var follower = new FollowRecorder(new TaskStreamClient(http, new TaskStreamClientOptions { IdleTimeout = TimeSpan.FromSeconds(3) }));
            await Eventually.TrueAsync(() => follower.HasAsync(f => f.IsLive), Patience, "the follower is live");
            await Task.Delay(TimeSpan.FromSeconds(5));
            Assert.Equal(1, steady.Requests);
        }

        // …while one shorter than the heartbeat drops the stream whenever it is quiet, and each resume loses nothing.
        var restless = new CountingHandler();
        using var restlessHttp = new HttpClient(restless) { BaseAddress = host.Server.BaseAddress };
        var client = new TaskStreamClient(restlessHttp,
            new TaskStreamClientOptions { IdleTimeout = TimeSpan.FromMilliseconds(300), MaxRetries = int.MaxValue });
        await using var restlessFollower = new FollowRecorder(client);
        await Eventually.TrueAsync(() => restlessFollower.HasAsync(f => f.IsLive && restless.Requests >= 3), Patience, "the follower reconnected twice");
        var task = await host.Client.CreateTaskAsync(new NewTask("Written to a restless follower"));
        await Eventually.TrueAsync(() => restlessFollower.HasAsync(f => f.View.Contains(task)), Patience, "the follower has the new task");

        TaskStreamClientTests.AssertIncreasingIds(restlessFollower.Events);
        Assert.Equal(await TaskStreamClientTests.ListAllAsync(host.Client, TaskFilter.All), restlessFollower.View);
    }

    /// <summary>Counts the requests the client sends: each stream (re)connect is one.</summary>
    private sealed class CountingHandler() : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _requests;

        public int Requests => Volatile.Read(ref _requests);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
