using System.Diagnostics;

namespace TaskStream.Bench;

/// <summary>The load shapes the scenarios are made of, each against any target.</summary>
public static class Drivers
{
    /// <summary>
    /// Closed loop: each client streams, and as soon as its stream ends starts the next, until the duration
    /// is over (streams in flight then are finished and counted). Returns the stats and the elapsed time.
    /// </summary>
    public static Task<(LoadStats Stats, TimeSpan Elapsed)> ClosedLoopAsync(
        SseLoad load, Uri url, StreamPlan plan, int clients, TimeSpan duration, CancellationToken cancellationToken) =>
        ClosedLoopAsync(load, [url], plan, clients, duration, cancellationToken);

    /// <summary>The same closed loop over several servers: client i always reads from <c>urls[i % urls.Count]</c>.</summary>
    public static async Task<(LoadStats Stats, TimeSpan Elapsed)> ClosedLoopAsync(
        SseLoad load, IReadOnlyList<Uri> urls, StreamPlan plan, int clients, TimeSpan duration, CancellationToken cancellationToken)
    {
        var stats = new LoadStats();
        var start = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var url = urls[i % urls.Count];
            while (Stopwatch.GetElapsedTime(start) < duration && !cancellationToken.IsCancellationRequested)
            {
                stats.Add(await load.StreamAsync(url, plan, cancellationToken));
            }
        }, cancellationToken));
        await Task.WhenAll(workers);
        return (stats, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>
    /// Starts <paramref name="count"/> streams with at most <paramref name="connectConcurrency"/> waiting for
    /// their first event at once (so the server sees a steady arrival, not a SYN storm), stream i shaped by
    /// <c>planFor(i)</c>. Returns when every stream has got its first event or failed; the returned
    /// task finishes when every stream has finished.
    /// </summary>
    public static async Task<(LoadStats Stats, Task AllDone)> OpenManyAsync(
        SseLoad load, Uri url, Func<int, StreamPlan> planFor, int count, int connectConcurrency, CancellationToken cancellationToken)
    {
        var stats = new LoadStats();
        using var gate = new SemaphoreSlim(connectConcurrency);
        var opened = new CountdownEvent(count);
        var streams = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            await gate.WaitAsync(cancellationToken);
            var released = 0;
            var streamPlan = planFor(i) with
            {
                OnFirstOrFailure = () =>
                {
                    if (Interlocked.Exchange(ref released, 1) == 0)
                    {
                        gate.Release();
                        opened.Signal();
                    }
                },
            };
            streams.Add(Task.Run(async () => stats.Add(await load.StreamAsync(url, streamPlan, cancellationToken)), cancellationToken));
        }

        // Every stream signals exactly once (first event or failure), so this wait is bounded by FirstEventTimeout.
        await Task.Run(() => opened.Wait(cancellationToken), cancellationToken);
        opened.Dispose();
        return (stats, Task.WhenAll(streams));
    }
}
