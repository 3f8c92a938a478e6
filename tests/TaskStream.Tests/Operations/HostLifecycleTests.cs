using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Each test here runs hosts of its own: they are slowed down, stopped and restarted.</summary>
public sealed class HostLifecycleTests
{
    [Fact]
    public async Task HeadersReachTheClientBeforeTheFirstTaskIsRead()
    {
        // Every enumeration the grain starts is held for 3 s, as a slow first query would be.
        await using var server = await TaskStreamServer.StartAsync(TaskStreamServer.NewDirectory(),
            builder => builder.Services.AddSingleton<IIncomingGrainCallFilter>(new DelayEnumerationStart(TimeSpan.FromSeconds(3))));
        var clock = Stopwatch.StartNew();

        using var response = await server.Http.SendAsync(Sse.Get("/tasks/stream?limit=1"), HttpCompletionOption.ResponseHeadersRead);
        var headersAt = clock.Elapsed;
        var raw = await response.Content.ReadAsStringAsync();
        var bodyAt = clock.Elapsed;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("id: 1\n", raw);
        Assert.True(bodyAt - headersAt > TimeSpan.FromSeconds(2), $"headers at {headersAt}, body at {bodyAt}");
    }

    [Fact]
    public async Task StoppingTheHostEndsOpenStreamsCleanlyAndAReconnectResumesFromTheLastEventId()
    {
        var directory = TaskStreamServer.NewDirectory();
        var first = await TaskStreamServer.StartAsync(directory, configure: null, ("TaskStream:Streaming:EventIntervalMs", "1000"));
        var clients = new List<(HttpResponseMessage Response, Task<List<SseEvent>> Events)>();
        for (var i = 0; i < 3; i++)
        {
            var response = await first.Http.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead);
            var events = Sse.ParseAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator();
            Assert.True(await events.MoveNextAsync()); // each client has its first task before the host stops
            clients.Add((response, RestAsync(events)));
        }

        var stopping = Stopwatch.StartNew();
        await first.DisposeAsync(keepDatabase: true);
        var stoppedIn = stopping.Elapsed;

        foreach (var (response, events) in clients)
        {
            // The body ends normally (no exception) and without `end`: an EventSource reconnects.
            var received = await events.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.NotEmpty(received);
            Assert.All(received, e => Assert.Equal("task", e.Type));
            response.Dispose();
        }

        Assert.True(stoppedIn < TimeSpan.FromSeconds(5), $"host stopped in {stoppedIn}");

        await using var second = await TaskStreamServer.StartAsync(directory, configure: null, ("TaskStream:Streaming:EventIntervalMs", "0"));
        var lastSeen = (await clients[0].Events)[^1].Id;
        var resumed = await Sse.ReadAllAsync(second.Http, "/tasks/stream", lastSeen);
        Assert.Equal(Enumerable.Range(int.Parse(lastSeen!) + 1, 5 - int.Parse(lastSeen!)).Select(i => (long)i), resumed.TaskIds);
    }

    [Theory]
    [InlineData(null, 3, new long[] { 1, 2, 3 })]
    [InlineData("2", 3, new long[] { 3 })]
    [InlineData("2", 0, new long[0])] // fails before a resuming stream has sent its headers
    public async Task AFailedGrainEndsTheStreamWithoutAnEndSoTheClientReconnects(string? lastEventId, long failAfter, long[] expectedIds)
    {
        // Grains fail once they have sent task `failAfter` (0: at once), as one whose silo died would.
        await using var server = await TaskStreamServer.StartAsync(TaskStreamServer.NewDirectory(),
            builder => builder.Services.AddSingleton<IIncomingGrainCallFilter>(new FailAfterTask(failAfter)),
            ("TaskStream:Streaming:EventIntervalMs", "1")); // paced: one task per grain call

        var response = await Sse.ReadAllAsync(server.Http, "/tasks/stream", lastEventId);

        // 200, not an error status: an EventSource would give up for good on one.
        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal("text/event-stream", response.ContentHeaders?.ContentType?.MediaType);
        Assert.Equal(expectedIds, response.TaskIds);
        Assert.DoesNotContain(response.Events, e => e.Type == "end");
    }

    private static async Task<List<SseEvent>> RestAsync(IAsyncEnumerator<SseEvent> events)
    {
        var received = new List<SseEvent> { events.Current };
        while (await events.MoveNextAsync())
        {
            received.Add(events.Current);
        }

        return received;
    }

    /// <summary>Fails every enumeration call a grain gets after it produced task <paramref name="lastTask"/> (0: every call).</summary>
    private sealed class FailAfterTask(long lastTask) : IIncomingGrainCallFilter
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<GrainId, bool> _failing = new();

        public async Task Invoke(IIncomingGrainCallContext context)
        {
            var enumeration = context.InterfaceMethod.DeclaringType == typeof(IAsyncEnumerableGrainExtension);
            if (enumeration && (lastTask == 0 || _failing.ContainsKey(context.TargetId)))
            {
                throw new InvalidOperationException("the grain's silo went away");
            }

            await context.Invoke();
            if (enumeration && context.Result is ValueTuple<EnumerationResult, object?> { Item2: TaskStream.Grains.TaskItem task } && task.Id == lastTask)
            {
                _failing[context.TargetId] = true;
            }
        }
    }

    private sealed class DelayEnumerationStart(TimeSpan delay) : IIncomingGrainCallFilter
    {
        public async Task Invoke(IIncomingGrainCallContext context)
        {
            if (context.InterfaceMethod.DeclaringType == typeof(IAsyncEnumerableGrainExtension)
                && context.InterfaceMethod.Name == nameof(IAsyncEnumerableGrainExtension.StartEnumeration))
            {
                await Task.Delay(delay);
            }

            await context.Invoke();
        }
    }
}
