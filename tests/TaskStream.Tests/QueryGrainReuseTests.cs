using System.Text.Json;
using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Query grains are lent to one query at a time and reused, not created per request.</summary>
public sealed class QueryGrainReuseTests
{
    [Theory]
    [InlineData(1024, 1)]
    [InlineData(0, 20)]
    public async Task SequentialStreamsReuseOneActivationUnlessThePoolIsOff(int poolSize, int expectedActivations)
    {
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Streaming:EventIntervalMs", "0"), ("TaskStream:Grains:PoolSize", poolSize.ToString()));

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal([1, 2, 3, 4, 5], (await Sse.ReadAllAsync(server.Http, "/tasks/stream")).TaskIds);
        }

        var status = JsonDocument.Parse(await server.Http.GetStringAsync("/status")).RootElement;
        Assert.Equal(expectedActivations, status.GetProperty("query_grains").GetInt64());
        Assert.Equal(0, status.GetProperty("open_connections").GetInt64());
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
}
