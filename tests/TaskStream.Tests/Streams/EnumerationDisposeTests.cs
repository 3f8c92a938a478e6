using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orleans;
using Orleans.Runtime;
using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>When the relay sends Orleans' final Dispose call for a grain enumeration, and when it need not.</summary>
public sealed class EnumerationDisposeTests
{
    [Fact]
    public async Task OnlyAStreamWhoseEnumerationDidNotCompleteSendsTheGrainAFinalDisposeCall()
    {
        var disposes = new DisposeCalls();
        // Paced: one task per grain call, so a stream the client leaves is still enumerating when it goes.
        await using var server = await TaskStreamServer.StartAsync(TaskStreamServer.NewDirectory(),
            builder => builder.Services.AddSingleton<IIncomingGrainCallFilter>(disposes), ("TaskStream:Streaming:EventIntervalMs", "2000"));
        var metrics = server.GetService<TaskStreamMetrics>();

        // Completed streams (one task, then `end`; and a resume with nothing left, 204): the grain had already
        // disposed its iterator when it answered Completed, so nothing is sent, and nothing is left open.
        var completed = await Sse.ReadAllAsync(server.Http, "/tasks/stream?limit=1");
        var nothingLeft = await Sse.ReadAllAsync(server.Http, "/tasks/stream", lastEventId: "5");
        Assert.Equal([1L], completed.TaskIds);
        Assert.Equal(HttpStatusCode.NoContent, nothingLeft.Status);
        Assert.Equal((0, 0L, 0L), (disposes.Count, metrics.RunningQueries, metrics.OpenConnections));
        // Both went back to the pool as soon as they ended: the second stream ran on the first one's grain.
        Assert.Equal(1, metrics.QueryGrains);

        // A stream the client leaves mid-way is disposed, which is what ends the grain's iterator.
        var response = await server.Http.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead);
        await using (var events = Sse.ParseAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator())
        {
            Assert.True(await events.MoveNextAsync());
        }

        response.Dispose();
        await Eventually.TrueAsync(() => Task.FromResult(disposes.Count == 1 && metrics.RunningQueries == 0), TimeSpan.FromSeconds(10),
            "the stream the client left sends its grain one Dispose call, and the grain's query ends");
    }

    /// <summary>Counts the Dispose calls grains get for their enumerations.</summary>
    private sealed class DisposeCalls : IIncomingGrainCallFilter
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public Task Invoke(IIncomingGrainCallContext context)
        {
            if (context.InterfaceMethod.DeclaringType == typeof(IAsyncEnumerableGrainExtension)
                && context.InterfaceMethod.Name == nameof(IAsyncEnumerableGrainExtension.DisposeAsync))
            {
                Interlocked.Increment(ref _count);
            }

            return context.Invoke();
        }
    }
}
