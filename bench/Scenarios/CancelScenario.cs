using System.Diagnostics;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>Clients leaving mid-stream: how fast the server lets go of the query.</summary>
internal sealed class CancelScenario : IScenario
{
    public string Name => "cancel";

    public async Task RunAsync(BenchContext context)
    {
        var (options, report) = (context.Options, context.Report);
        var n = options.CancelClients;
        var section = report.Begin("cancel",
            $"cancel: {n} clients read 1-2 events of a stream paced at 200 ms, then disconnect; " +
            $"{options.Warmup.TotalSeconds:0} s warm-up per target");
        var config = new ServerConfig(context.Paths.NewDatabase("cancel"), 10_000, EventIntervalMs: 200, LogStreams: true);
        await using var taskStream = await context.StartAsync(Target.TaskStream, config);
        await using var baseline = await context.StartAsync(Target.Baseline, config);
        const string path = "/tasks/stream?limit=1000";
        StreamPlan PlanFor(int i) => new() { DisconnectAfter = 1 + (i % 2) };

        var results = new Dictionary<Target, (LoadStats Stats, long Cancelled, List<StreamLogLine> Lines, ServerStatus Final, TimeSpan Drain)>();
        foreach (var server in new[] { taskStream, baseline })
        {
            await WarmUpAsync(context, section, server, () => RoundsForAsync(options.Warmup, async stats =>
            {
                var (round, done) = await Drivers.OpenManyAsync(context.Load, server.Url(path), PlanFor, Math.Min(100, n),
                    options.ConnectConcurrency, context.Token);
                await done;
                stats.Add(round);
            }));
            await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);
            await Task.Delay(500, context.Token);
            server.TakeStreamLines(); // the warm-up's
            var endedBefore = await server.StreamsEndedAsync(context.Load.Http, context.Token);

            Progress("cancel", $"{server.Target}: {n} clients");
            var (stats, allDone) = await Drivers.OpenManyAsync(context.Load, server.Url(path), PlanFor, n,
                options.ConnectConcurrency, context.Token);
            await allDone.WaitAsync(DrainLimit, context.Token);
            server.EnsureRunning($"{n} disconnects");
            var (final, drain) = await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);

            // The server counts a stream ended, and logs its release time, once it has let go of it; wait (bounded) for all n.
            // The count comes from /metrics; ReleaseMs has no metric, so it alone is read off the per-stream log lines.
            var lines = server.TakeStreamLines();
            var ended = await EndedSinceAsync(server, endedBefore, context);
            var waitStart = Stopwatch.GetTimestamp();
            while ((ended.Values.Sum() < n || lines.Count < n) && Stopwatch.GetElapsedTime(waitStart) < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(100, context.Token);
                lines.AddRange(server.TakeStreamLines());
                ended = await EndedSinceAsync(server, endedBefore, context);
            }

            var cancelled = ended.GetValueOrDefault("cancelled");
            results[server.Target] = (stats, cancelled, lines, final, drain);
            report.Check(stats.Errors == 0, "cancel", $"{server.Target}: {stats.ErrorSummary()}", server.Target);
            report.Check(server.StreamLineCount > 0 || lines.Count > 0, "cancel",
                $"{server.Target} wrote no per-stream log lines, which ReleaseMs is read from", server.Target);
            report.Check(cancelled == n, "cancel", $"{server.Target}: {cancelled} streams ended 'cancelled' (/metrics) for {n} disconnects " +
                $"(outcomes: {string.Join(", ", ended.Select(e => $"{e.Key} {e.Value}"))})", server.Target);
            report.Check(final.ActiveStreams == 0 && final.OpenConnections == 0, "cancel",
                $"{server.Target}: {final.ActiveStreams} streams and {final.OpenConnections} connections still open {drain.TotalSeconds:0.0} s after the last disconnect", server.Target);
        }

        var (ts, bl) = (results[Target.TaskStream], results[Target.Baseline]);
        static double Release(List<StreamLogLine> lines, double p) =>
            Percentiles.Of(lines.Where(l => l.Outcome == "cancelled").Select(l => l.ReleaseMs), p);
        var c = $"{n} disconnects";
        section.Add(new Row(c, "cancelled streams", "count", ts.Cancelled, bl.Cancelled));
        section.Add(new Row(c, "ReleaseMs p50", "ms", Release(ts.Lines, 50), Release(bl.Lines, 50)));
        var p99 = Release(ts.Lines, 99);
        section.Add(new Row(c, "ReleaseMs p99", "ms", p99, Release(bl.Lines, 99)) { Target = "<100 ms", TargetMet = p99 < 100 });
        section.Add(new Row(c, "ReleaseMs max", "ms", Release(ts.Lines, 100), Release(bl.Lines, 100)));
        section.Add(new Row(c, "client errors", "count", ts.Stats.Errors, bl.Stats.Errors));
        var tsZero = ts.Final.ActiveStreams + ts.Final.OpenConnections;
        section.Add(new Row("after", "active_streams + open_connections", "count", tsZero, bl.Final.ActiveStreams + bl.Final.OpenConnections)
        {
            Target = "back to 0",
            TargetMet = tsZero == 0,
        });
        section.Add(new Row("after", "time until back to 0", "s", ts.Drain.TotalSeconds, bl.Drain.TotalSeconds));
        section.Notes.Add("cancelled streams: taskstream_streams_ended_total{outcome=\"cancelled\"} of the server's /metrics over the measured round");
        section.Notes.Add("ReleaseMs: the server's own per-stream log (no metric carries it), from the disconnect being seen to the query's DB connection closed");
        Report.Print(section);
    }

    /// <summary>Streams ended by outcome since <paramref name="before"/>, outcomes with none left out.</summary>
    private static async Task<Dictionary<string, long>> EndedSinceAsync(ServerProcess server, IReadOnlyDictionary<string, long> before, BenchContext context) =>
        (await server.StreamsEndedAsync(context.Load.Http, context.Token))
            .Select(e => (e.Key, Count: e.Value - before.GetValueOrDefault(e.Key)))
            .Where(e => e.Count != 0)
            .ToDictionary(e => e.Key, e => e.Count);
}
