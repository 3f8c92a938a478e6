using System.Text.Json;
using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Query grains are lent to one query at a time and reused, not created per request.</summary>
public sealed class QueryGrainReuseTests
{
    /// <remarks>With the pool off, each request's grain deactivates once its query is disposed, so none is left.</remarks>
    [Theory]
    [InlineData(1024, 1)]
    [InlineData(0, 0)]
    public async Task SequentialStreamsReuseOneActivationUnlessThePoolIsOff(int poolSize, int expectedActivations)
    {
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Streaming:EventIntervalMs", "0"), ("TaskStream:Grains:PoolSize", poolSize.ToString()));

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal([1, 2, 3, 4, 5], (await Sse.ReadAllAsync(server.Http, "/tasks/stream")).TaskIds);
        }

        await Eventually.TrueAsync(async () =>
            JsonDocument.Parse(await server.Http.GetStringAsync("/status")).RootElement.GetProperty("query_grains").GetInt64() == expectedActivations,
            TimeSpan.FromSeconds(5), $"{expectedActivations} query activations are left");
        Assert.Equal(0, JsonDocument.Parse(await server.Http.GetStringAsync("/status")).RootElement.GetProperty("open_connections").GetInt64());
    }

    [Fact]
    public async Task StreamsAbandonedBeforeTheirEndLeaveNoActivationBehind()
    {
        // Paced, so that every stream is still running when its client leaves; Orleans' default collection age.
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Streaming:EventIntervalMs", "200"));

        await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
        {
            using var response = await server.Http.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead);
            await foreach (var first in Sse.ParseAsync(await response.Content.ReadAsStreamAsync()))
            {
                break; // the first task, then hang up
            }
        }));

        await Eventually.TrueAsync(async () =>
            JsonDocument.Parse(await server.Http.GetStringAsync("/status")).RootElement.GetProperty("query_grains").GetInt64() == 0,
            TimeSpan.FromSeconds(3), "the abandoned queries' grains deactivate at once: not after Orleans' collection age, nor after the 5 s a release that overtook its start waits");
    }

    [Fact]
    public async Task AGrainReleasedAfterItsQueryDeactivatesAtOnce()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var grain = NewGrain(server);
        var lease = Guid.NewGuid();

        Assert.Equal(6, (await grain.QueryAsync(new TaskQuery(), lease).ToListAsync()).Count); // five tasks and QueryCompleted
        Assert.Equal(1, server.GetService<TaskStreamMetrics>().QueryGrains);
        await grain.ReleaseAsync(lease);

        // Well before the few seconds a release that overtook its query's start waits for that start.
        await NoQueryGrainWithin(server, 2, "the released grain deactivates as soon as it is idle");
    }

    [Fact]
    public async Task AQueryStartThatComesAfterItsLeaseWasReleasedIsRefusedAndTheGrainDeactivatesAfterAGrace()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var grain = NewGrain(server);
        var (ran, lease) = (Guid.NewGuid(), Guid.NewGuid());
        Assert.Equal(6, (await grain.QueryAsync(new TaskQuery(), ran).ToListAsync()).Count);

        // The caller gave up on its next query while the start was on its way, and released the grain first.
        await grain.ReleaseAsync(lease);
        var late = await grain.QueryAsync(new TaskQuery(), lease).ToListAsync();

        var metrics = server.GetService<TaskStreamMetrics>();
        Assert.Empty(late); // not even QueryCompleted: nobody reads it
        Assert.Equal((0, 1), (metrics.RunningQueries, metrics.QueryGrains));
        await NoQueryGrainWithin(server, 15, "the grain deactivates once the release's grace for a late start has passed");
    }

    [Fact]
    public async Task AGrainReleasedUnderALeaseWhoseQueryNeverComesDeactivatesAfterAGrace()
    {
        await using var server = await TaskStreamServer.StartAsync();

        await NewGrain(server).ReleaseAsync(Guid.NewGuid());

        Assert.Equal(1, server.GetService<TaskStreamMetrics>().QueryGrains);
        await NoQueryGrainWithin(server, 15, "the grain deactivates once the release's grace for a late start has passed");
    }

    [Fact]
    public async Task ConcurrentStreamsEachGetAGrainOfTheirOwn()
    {
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Streaming:EventIntervalMs", "100"));

        for (var round = 0; round < 3; round++)
        {
            var streams = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Sse.ReadAllAsync(server.Http, "/tasks/stream")));
            Assert.All(streams, s => Assert.Equal([1, 2, 3, 4, 5], s.TaskIds));
        }

        // Eight at once need eight grains; later rounds reuse them.
        Assert.Equal(8, server.GetService<TaskStreamMetrics>().QueryGrains);
    }

    private static ITaskQueryGrain NewGrain(TaskStreamServer server) =>
        server.GetService<IGrainFactory>().GetGrain<ITaskQueryGrain>(Guid.NewGuid());

    private static Task NoQueryGrainWithin(TaskStreamServer server, int seconds, string because) =>
        Eventually.TrueAsync(() => Task.FromResult(server.GetService<TaskStreamMetrics>().QueryGrains == 0), TimeSpan.FromSeconds(seconds), because);
}
