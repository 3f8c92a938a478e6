using System.Collections;
using System.Net;
using System.Reflection;
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

    [Fact]
    public async Task ACompletedEnumerationLeftUndisposedHoldsNothingOnEitherSide()
    {
        var grains = new GrainEnumerators();
        await using var server = await TaskStreamServer.StartAsync(TaskStreamServer.NewDirectory(),
            builder => builder.Services.AddSingleton<IIncomingGrainCallFilter>(grains));

        // Grain side: Orleans' enumeration extension holds no enumerator once a relayed stream completed, with no Dispose call.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal([1L, 2, 3, 4, 5], (await Sse.ReadAllAsync(server.Http, "/tasks/stream?limit=5")).TaskIds);
        }

        Assert.Equal((3, 0, 0), (grains.Started, grains.Disposed, grains.Open));

        // Caller side: Orleans' enumerator proxy, made as the relay makes it (the request's token on the enumerator, none
        // on the call), owns no CancellationTokenSource and no tracing activity, so skipping its DisposeAsync frees nothing.
        // One result per call here, so the grain is seen holding the enumerator until the last one.
        using var request = new CancellationTokenSource();
        var results = server.GetService<IGrainFactory>().GetGrain<ITaskQueryGrain>(Guid.NewGuid())
            .QueryAsync(new TaskQuery(Limit: 2)).WithBatchSize(1).GetAsyncEnumerator(request.Token);
        Assert.True(await results.MoveNextAsync());
        Assert.Equal(1, grains.Open);
        var seen = 1;
        while (await results.MoveNextAsync())
        {
            seen++;
        }

        Assert.Equal(3, seen); // two tasks and the query's QueryCompleted
        Assert.Null(Field(results, "_cancellationTokenSource"));
        Assert.Null(Field(results, "_sessionActivity"));
        Assert.Equal((4, 0, 0), (grains.Started, grains.Disposed, grains.Open));
    }

    // Orleans' private state, read by name: a rename in a later Orleans fails here rather than passing unseen.
    private static object? Field(object target, string name) =>
        (target.GetType().GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)
            ?? throw new MissingFieldException(target.GetType().FullName, name)).GetValue(target);

    /// <summary>Counts TaskQuery grains' enumeration calls, and the enumerators their extension holds after each.</summary>
    private sealed class GrainEnumerators : IIncomingGrainCallFilter
    {
        private int _started;
        private int _disposed;
        private int _open;

        public int Started => Volatile.Read(ref _started);

        public int Disposed => Volatile.Read(ref _disposed);

        /// <summary>Enumerators the extension held after the last enumeration call it answered.</summary>
        public int Open => Volatile.Read(ref _open);

        public async Task Invoke(IIncomingGrainCallContext context)
        {
            await context.Invoke();
            if (context.InterfaceMethod.DeclaringType != typeof(IAsyncEnumerableGrainExtension) || context.TargetContext.GrainInstance is not TaskQueryGrain)
            {
                return;
            }

            if (context.InterfaceMethod.Name == nameof(IAsyncEnumerableGrainExtension.StartEnumeration))
            {
                Interlocked.Increment(ref _started);
            }
            else if (context.InterfaceMethod.Name == nameof(IAsyncEnumerableGrainExtension.DisposeAsync))
            {
                Interlocked.Increment(ref _disposed);
            }

            // The extension is a per-activation service of Orleans'.
            var extension = context.TargetContext.ActivationServices.GetRequiredService<IAsyncEnumerableGrainExtension>();
            Volatile.Write(ref _open, ((ICollection)Field(extension, "_enumerators")!).Count);
        }
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
