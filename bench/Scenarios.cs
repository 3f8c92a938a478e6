using System.Diagnostics;

namespace TaskStream.Bench;

/// <summary>What every scenario gets: its sizes, the paths, the one load client, the report, Ctrl-C.</summary>
public sealed record BenchContext(BenchOptions Options, BenchPaths Paths, SseLoad Load, Report Report, CancellationToken Token)
{
    public Task<ServerProcess> StartAsync(Target target, ServerConfig config) =>
        ServerProcess.StartAsync(target, config, Paths, Load.Http, Token);
}

/// <summary>
/// The scenarios. Each of the first four starts its own servers (the silo first: it creates and seeds a
/// missing database, which the baseline then reads as it is), runs the same driver against both, one after
/// the other, and reports TaskStream beside the baseline. <c>scale</c> has no baseline: it runs the same
/// driver against clusters of 1, 2, 3 silos.
/// </summary>
public static partial class Scenarios
{
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(60);

    public static Task RunAsync(string name, BenchContext context) => name switch
    {
        "short" => ShortAsync(context),
        "large" => LargeAsync(context),
        "idle" => IdleAsync(context),
        "cancel" => CancelAsync(context),
        "scale" => ScaleAsync(context),
        "follow" => FollowAsync(context),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    /// <summary>Closed-loop clients each repeatedly streaming the five seed tasks.</summary>
    private static async Task ShortAsync(BenchContext context)
    {
        var (options, report) = (context.Options, context.Report);
        var section = report.Begin("short",
            $"short: closed-loop clients streaming /tasks/stream?limit=5, {options.Duration.TotalSeconds:0} s per level and target (ABBA slices), " +
            $"{options.Warmup.TotalSeconds:0} s warm-up per target");
        var config = new ServerConfig(context.Paths.NewDatabase("short"), 1_000, EventIntervalMs: 0, LogStreams: false);
        await using var taskStream = await context.StartAsync(Target.TaskStream, config);
        await using var baseline = await context.StartAsync(Target.Baseline, config);
        ServerProcess[] servers = [taskStream, baseline];
        const string path = "/tasks/stream?limit=5";
        await CheckSameBytesAsync(context, section, taskStream, baseline, path);

        var plan = new StreamPlan { ExpectTasks = 5 };
        foreach (var server in servers)
        {
            await WarmUpAsync(context, section, server, () =>
                Drivers.ClosedLoopAsync(context.Load, server.Url(path), plan, 64, options.Warmup, context.Token));
        }

        foreach (var clients in options.ShortClients)
        {
            // Each target's time is cut in two slices run A B B A, so a drift in the machine's other load
            // (2 shared cores) weighs on both targets alike rather than on whichever ran second.
            var slices = options.Smoke ? 1 : 2;
            var slice = options.Duration / slices;
            var results = servers.ToDictionary(s => s.Target, _ => (Stats: new LoadStats(), Elapsed: TimeSpan.Zero));
            var cpuSeconds = servers.ToDictionary(s => s.Target, _ => 0.0);
            for (var round = 0; round < slices; round++)
            {
                foreach (var server in round % 2 == 0 ? servers : servers.AsEnumerable().Reverse())
                {
                    Progress("short", $"{server.Target}: {clients} clients for {slice.TotalSeconds:0.#} s");
                    var cpuBefore = server.CpuSeconds();
                    var (stats, elapsed) = await Drivers.ClosedLoopAsync(context.Load, server.Url(path), plan, clients, slice, context.Token);
                    server.EnsureRunning($"{clients} clients");
                    cpuSeconds[server.Target] += server.CpuSeconds() - cpuBefore;
                    results[server.Target].Stats.Add(stats);
                    results[server.Target] = (results[server.Target].Stats, results[server.Target].Elapsed + elapsed);
                }
            }

            foreach (var (target, (stats, _)) in results)
            {
                report.Check(stats.Errors == 0, "short", $"{target}, {clients} clients: {stats.ErrorSummary()}", target);
                report.Check(stats.Ok > 0, "short", $"{target}, {clients} clients: no stream completed", target);
            }

            var (ts, bl) = (results[Target.TaskStream], results[Target.Baseline]);
            double StreamsPerSecond((LoadStats Stats, TimeSpan Elapsed) r) => r.Stats.Ok / r.Elapsed.TotalSeconds;
            var c = $"{clients} clients";
            var throughput = section.Add(new Row(c, "streams/s", "/s", StreamsPerSecond(ts), StreamsPerSecond(bl)));
            if (clients == 64)
            {
                section.Rows[^1] = throughput with
                {
                    Target = "≥0.80× baseline, 0 errors",
                    TargetMet = throughput.Ratio >= 0.80 && ts.Stats.Errors == 0,
                };
            }

            section.Add(new Row(c, "events/s", "/s", ts.Stats.Tasks / ts.Elapsed.TotalSeconds, bl.Stats.Tasks / bl.Elapsed.TotalSeconds));
            section.Add(new Row(c, "TTFE p50", "ms", ts.Stats.TtfePercentile(50), bl.Stats.TtfePercentile(50)));
            section.Add(new Row(c, "TTFE p99", "ms", ts.Stats.TtfePercentile(99), bl.Stats.TtfePercentile(99)));
            section.Add(new Row(c, "errors", "count", ts.Stats.Errors, bl.Stats.Errors));
            double CpuPerThousand(Target target) => cpuSeconds[target] / results[target].Stats.Ok * 1000;
            var cpu = section.Add(new Row(c, "CPU per 1,000 streams", "CPU s", CpuPerThousand(Target.TaskStream), CpuPerThousand(Target.Baseline)));
            if (options.MaxCpuRatio is { } max)
            {
                section.Rows[^1] = cpu with { Target = $"≤{max:0.0#}× baseline (guard)", TargetMet = cpu.Ratio <= max };
                report.Check(cpu.Ratio <= max, "short",
                    $"{c}: TaskStream's CPU per stream is {cpu.Ratio:0.00}× the baseline's, over the {max:0.0#}× guard (--max-cpu-ratio)", Target.TaskStream);
            }
        }

        section.Notes.Add("CPU per 1,000 streams: the server process's user + system time (/proc/PID/stat) over the measured slices, " +
            "per 1,000 streams completed; the load client runs in another process");
        Report.Print(section);
    }

    /// <summary>One client streaming a large table: throughput and the server's memory while it serves it.</summary>
    private static async Task LargeAsync(BenchContext context)
    {
        var (options, report) = (context.Options, context.Report);
        var n = options.LargeTasks;
        var section = report.Begin("large",
            $"large: one client streams {n:#,0} tasks, median of {options.LargeRuns} run(s) per target after " +
            $"{options.Warmup.TotalSeconds:0} s warm-up");
        var config = new ServerConfig(context.Paths.NewDatabase("large"), n, EventIntervalMs: 0, LogStreams: false);
        await using var taskStream = await context.StartAsync(Target.TaskStream, config);
        await using var baseline = await context.StartAsync(Target.Baseline, config);
        var path = $"/tasks/stream?limit={n}";
        var plan = new StreamPlan { ExpectTasks = n };

        var results = new Dictionary<Target, (double EventsPerSecond, double ColdMb, double BeforeMb, double PeakMb, bool PeakFromHwm)>();
        foreach (var server in new[] { taskStream, baseline })
        {
            var cold = server.Memory().RssKb;
            await WarmUpAsync(context, section, server, async () =>
            {
                var stats = new LoadStats();
                var start = Stopwatch.GetTimestamp();
                do
                {
                    stats.Add(await context.Load.StreamAsync(server.Url(path), plan, context.Token));
                }
                while (Stopwatch.GetElapsedTime(start) < options.Warmup && stats.Errors == 0);

                return (stats, Stopwatch.GetElapsedTime(start));
            });
            await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);

            // Growth is measured from the warm, idle server: the peak is reset (VmHWM) and also sampled.
            var before = server.Memory().RssKb;
            var hwmReset = server.TryResetPeak();
            using var stopSampling = new CancellationTokenSource();
            long sampledPeak = before;
            var sampler = Task.Run(async () =>
            {
                while (!stopSampling.IsCancellationRequested)
                {
                    sampledPeak = Math.Max(sampledPeak, server.Memory().RssKb);
                    await Task.Delay(50, CancellationToken.None);
                }
            });

            Progress("large", $"{server.Target}: {options.LargeRuns} measured run(s)");
            var rates = new List<double>();
            for (var run = 0; run < options.LargeRuns; run++)
            {
                var result = await context.Load.StreamAsync(server.Url(path), plan, context.Token);
                server.EnsureRunning($"run {run + 1}");
                report.Check(result.Ok, "large", $"{server.Target}, run {run + 1}: {result.Error}", server.Target);
                rates.Add(result.Ok ? result.Tasks / (result.TotalMs / 1000) : double.NaN);
            }

            await stopSampling.CancelAsync();
            await sampler;
            var peak = Math.Max(sampledPeak, hwmReset ? server.Memory().PeakKb : 0);
            results[server.Target] = (Percentiles.Of(rates, 50), cold / 1024.0, before / 1024.0, peak / 1024.0, hwmReset);
        }

        var (ts, bl) = (results[Target.TaskStream], results[Target.Baseline]);
        var rate = section.Add(new Row($"{n:#,0} tasks", "events/s", "/s", ts.EventsPerSecond, bl.EventsPerSecond));
        section.Rows[^1] = rate with { Target = "≥300,000/s", TargetMet = ts.EventsPerSecond >= 300_000 };
        section.Add(new Row("server", "RSS at start", "MB", ts.ColdMb, bl.ColdMb));
        section.Add(new Row("server", "RSS warm, before", "MB", ts.BeforeMb, bl.BeforeMb));
        section.Add(new Row("server", "peak RSS (VmHWM)", "MB", ts.PeakMb, bl.PeakMb));
        var growth = ts.PeakMb - ts.BeforeMb;
        section.Add(new Row("server", "RSS growth", "MB", growth, bl.PeakMb - bl.BeforeMb)
        {
            Target = "<32 MB",
            TargetMet = growth < 32,
        });
        section.Notes.Add("growth = peak during the measured runs − RSS of the warm idle server just before them; " +
            (ts.PeakFromHwm ? "peak from VmHWM after resetting it (clear_refs 5) and 50 ms RSS samples" : "peak from 50 ms RSS samples (VmHWM reset not permitted)"));
        Report.Print(section);
    }

    /// <summary>Many open streams that each got their first event and then wait: memory per stream.</summary>
    private static async Task IdleAsync(BenchContext context)
    {
        var (options, report) = (context.Options, context.Report);
        var idleWarmup = options.Warmup > TimeSpan.FromSeconds(10) ? TimeSpan.FromSeconds(10) : options.Warmup;
        var section = report.Begin("idle",
            $"idle: N open streams (pacing 600 s: first event, then nothing), a fresh server per level, " +
            $"{idleWarmup.TotalSeconds:0} s warm-up, at most {options.ConnectConcurrency} connects in flight");
        var database = context.Paths.NewDatabase("idle");
        foreach (var n in options.IdleStreams)
        {
            var results = new Dictionary<Target, IdleResult>();
            foreach (var target in new[] { Target.TaskStream, Target.Baseline })
            {
                var config = new ServerConfig(database, 1_000, EventIntervalMs: 600_000, LogStreams: false);
                await using var server = await context.StartAsync(target, config);
                results[target] = await MeasureIdleAsync(context, section, server, n, idleWarmup, "/tasks/stream?limit=5", "/tasks/stream?limit=5");
            }

            var (ts, bl) = (results[Target.TaskStream], results[Target.Baseline]);
            var c = $"{n:#,0} streams";
            var atTarget = n == 10_000;
            section.Add(new Row(c, "streams open", "count", ts.Stats.Ok, bl.Stats.Ok));
            section.Add(new Row(c, "memory per stream", "KB", ts.KbPerStream, bl.KbPerStream)
            {
                Target = atTarget ? "<32 KB" : null,
                TargetMet = atTarget ? ts.KbPerStream < 32 : null,
            });
            var p99 = ts.Stats.TtfePercentile(99);
            section.Add(new Row(c, "TTFE p50", "ms", ts.Stats.TtfePercentile(50), bl.Stats.TtfePercentile(50)));
            section.Add(new Row(c, "TTFE p99", "ms", p99, bl.Stats.TtfePercentile(99))
            {
                Target = atTarget ? "<100 ms" : null,
                TargetMet = atTarget ? p99 < 100 : null,
            });
            section.Add(new Row(c, "errors", "count", ts.Stats.Errors, bl.Stats.Errors)
            {
                Target = atTarget ? "0" : null,
                TargetMet = atTarget ? ts.Stats.Errors == 0 && ts.Crashed is null : null,
            });
            section.Add(new Row(c, "time to open all", "s", ts.OpenSeconds, bl.OpenSeconds));
            // What each open stream pins: its socket, and on a server that holds a SQLite connection per
            // stream (the baseline does, by design) the database and WAL files. Against `ulimit -n` this,
            // not memory, can be what caps the number of streams.
            section.Add(new Row(c, "server fds per stream", "fds", ts.FilesPerStream, bl.FilesPerStream));
            foreach (var (target, result) in results.Where(r => r.Value.Crashed is not null))
            {
                section.Notes.Add($"{c}: {target} exited during the level: {result.Crashed}");
            }
        }

        await IdleRowWidthAsync(context, section, idleWarmup);
        section.Notes.Add("memory per stream = (server RSS 2 s after all N got their first event − RSS of the warm, drained server) / N");
        section.Notes.Add($"servers inherit this shell's open-files limit; a stream that holds its SQLite connection pins ~3 fds (socket, db, WAL)");
        Report.Print(section);
    }

    /// <summary>
    /// What row width costs an idle stream: without a limit each query reads a whole page (512 rows) and holds it
    /// while it waits, so memory per stream is page size × row width. The same N streams of <c>/tasks/stream</c>
    /// on 1,000 short rows, then on the same rows with 2,000-character descriptions (the most a write allows).
    /// </summary>
    private static async Task IdleRowWidthAsync(BenchContext context, Section section, TimeSpan warmup)
    {
        var n = context.Options.IdleWideStreams;
        foreach (var (rows, width) in new[] { ("short rows", 0), ("2,000-char descriptions", 2_000) })
        {
            var database = context.Paths.NewDatabase($"idle-{width}");
            var results = new Dictionary<Target, IdleResult>();
            foreach (var target in new[] { Target.TaskStream, Target.Baseline })
            {
                // The silo (first) creates and seeds the database; the rows are widened before anything reads them.
                await using var server = await context.StartAsync(target, new ServerConfig(database, 1_000, EventIntervalMs: 600_000, LogStreams: false));
                if (target == Target.TaskStream && width > 0)
                {
                    await WidenDescriptionsAsync(database, width, context.Token);
                }

                // Warmed up on short streams: rounds of whole wide pages would grow the heap first, and RSS would
                // then not show what the measured streams hold.
                results[target] = await MeasureIdleAsync(context, section, server, n, warmup, "/tasks/stream", "/tasks/stream?limit=5");
            }

            var (ts, bl) = (results[Target.TaskStream], results[Target.Baseline]);
            var c = $"{n:#,0} streams, {rows}";
            section.Add(new Row(c, "streams open", "count", ts.Stats.Ok, bl.Stats.Ok));
            section.Add(new Row(c, "memory per stream", "KB", ts.KbPerStream, bl.KbPerStream));
            section.Add(new Row(c, "TTFE p99", "ms", ts.Stats.TtfePercentile(99), bl.Stats.TtfePercentile(99)));
            section.Add(new Row(c, "errors", "count", ts.Stats.Errors, bl.Stats.Errors));
        }

        section.Notes.Add($"row width: {n:#,0} streams of /tasks/stream (no limit: a whole 512-row page per query) on 1,000 tasks, " +
            "short seed rows, then every description 2,000 characters; warm-up on /tasks/stream?limit=5");
    }

    private static async Task WidenDescriptionsAsync(string database, int characters, CancellationToken cancellationToken)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Default Timeout=30");
        await connection.OpenAsync(cancellationToken);
        await using var widen = connection.CreateCommand();
        widen.CommandText = "UPDATE tasks SET description = $description";
        widen.Parameters.AddWithValue("$description", string.Concat(Enumerable.Repeat("Wide row. ", characters / 10)));
        await widen.ExecuteNonQueryAsync(cancellationToken);
    }

    private sealed record IdleResult(LoadStats Stats, double KbPerStream, double FilesPerStream, double OpenSeconds, string? Crashed);

    /// <summary>
    /// One idle level on one fresh server. A server that dies under the load is an outcome to report (with
    /// its exit code and last words), not the end of the scenario: the other target and levels still run.
    /// </summary>
    private static async Task<IdleResult> MeasureIdleAsync(BenchContext context, Section section, ServerProcess server, int n, TimeSpan warmup,
        string path, string warmupPath)
    {
        var (report, target) = (context.Report, server.Target);
        if (warmup > TimeSpan.Zero)
        {
            await WarmUpAsync(context, section, server, async () =>
            {
                var stats = new LoadStats();
                var start = Stopwatch.GetTimestamp();
                while (Stopwatch.GetElapsedTime(start) < warmup && stats.Errors == 0)
                {
                    var round = await OpenAndHoldAsync(context, server, warmupPath, Math.Min(200, n));
                    round.Release();
                    await round.AllDone;
                    stats.Add(round.Stats);
                }

                return (stats, Stopwatch.GetElapsedTime(start));
            });
        }

        await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);
        await Task.Delay(1000, context.Token);
        var before = server.Memory().RssKb;
        var filesBefore = server.OpenFiles();

        Progress("idle", $"{target}: opening {n:#,0} streams");
        var opening = Stopwatch.GetTimestamp();
        var open = await OpenAndHoldAsync(context, server, path, n);
        var openSeconds = Stopwatch.GetElapsedTime(opening).TotalSeconds;
        await Task.Delay(2000, context.Token); // let the server settle before reading its memory
        if (server.ExitDescription() is { } crashed)
        {
            open.Release();
            await open.AllDone.WaitAsync(DrainLimit, context.Token);
            var summary = string.Join(" ", crashed.Split('\n').Take(2)); // exit code, and its last line
            report.Problem("idle", $"{target}, {n} streams: {open.Stats.ErrorSummary()}; then the server {summary}", target);
            return new IdleResult(open.Stats, double.NaN, double.NaN, openSeconds, summary);
        }

        var after = server.Memory().RssKb;
        var filesAfter = server.OpenFiles();
        var status = await server.StatusAsync(context.Load.Http, context.Token);
        open.Release();
        await open.AllDone.WaitAsync(DrainLimit, context.Token);
        var (drained, _) = await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);

        report.Check(open.Stats.Errors == 0, "idle", $"{target}, {n} streams: {open.Stats.ErrorSummary()}", target);
        report.Check(status.ActiveStreams == open.Stats.Ok, "idle",
            $"{target}, {n} streams: server reported {status.ActiveStreams} active streams while {open.Stats.Ok} were open", target);
        report.Check(drained.ActiveStreams == 0 && drained.OpenConnections == 0, "idle",
            $"{target}, {n} streams: after closing, {drained.ActiveStreams} streams and {drained.OpenConnections} connections still open", target);
        return new IdleResult(open.Stats, (after - before) / (double)n, (filesAfter - filesBefore) / (double)n, openSeconds, null);
    }

    /// <summary>Clients leaving mid-stream: how fast the server lets go of the query, from its own log.</summary>
    private static async Task CancelAsync(BenchContext context)
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

        var results = new Dictionary<Target, (LoadStats Stats, List<StreamLogLine> Lines, ServerStatus Final, TimeSpan Drain)>();
        foreach (var server in new[] { taskStream, baseline })
        {
            await WarmUpAsync(context, section, server, async () =>
            {
                var stats = new LoadStats();
                var start = Stopwatch.GetTimestamp();
                while (Stopwatch.GetElapsedTime(start) < options.Warmup && stats.Errors == 0)
                {
                    var (round, done) = await Drivers.OpenManyAsync(context.Load, server.Url(path), PlanFor, Math.Min(100, n),
                        options.ConnectConcurrency, context.Token);
                    await done;
                    stats.Add(round);
                }

                return (stats, Stopwatch.GetElapsedTime(start));
            });
            await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);
            await Task.Delay(500, context.Token);
            server.TakeStreamLines(); // the warm-up's

            Progress("cancel", $"{server.Target}: {n} clients");
            var (stats, allDone) = await Drivers.OpenManyAsync(context.Load, server.Url(path), PlanFor, n,
                options.ConnectConcurrency, context.Token);
            await allDone.WaitAsync(DrainLimit, context.Token);
            server.EnsureRunning($"{n} disconnects");
            var (final, drain) = await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);

            // The server logs a stream once it has let go of it; wait (bounded) for all n lines.
            var lines = server.TakeStreamLines();
            var waitStart = Stopwatch.GetTimestamp();
            while (lines.Count < n && Stopwatch.GetElapsedTime(waitStart) < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(100, context.Token);
                lines.AddRange(server.TakeStreamLines());
            }

            results[server.Target] = (stats, lines, final, drain);
            var cancelled = lines.Count(l => l.Outcome == "cancelled");
            report.Check(stats.Errors == 0, "cancel", $"{server.Target}: {stats.ErrorSummary()}", server.Target);
            report.Check(server.StreamLineCount > 0 || lines.Count > 0, "cancel",
                $"{server.Target} wrote no per-stream log lines (a silo without the TaskEventStream log? merge main)", server.Target);
            report.Check(cancelled == n, "cancel", $"{server.Target}: {cancelled} 'cancelled' log lines for {n} disconnects " +
                $"(outcomes: {string.Join(", ", lines.GroupBy(l => l.Outcome).Select(g => $"{g.Key} {g.Count()}"))})", server.Target);
            report.Check(final.ActiveStreams == 0 && final.OpenConnections == 0, "cancel",
                $"{server.Target}: {final.ActiveStreams} streams and {final.OpenConnections} connections still open {drain.TotalSeconds:0.0} s after the last disconnect", server.Target);
        }

        var (ts, bl) = (results[Target.TaskStream], results[Target.Baseline]);
        static double Release(List<StreamLogLine> lines, double p) =>
            Percentiles.Of(lines.Where(l => l.Outcome == "cancelled").Select(l => l.ReleaseMs), p);
        var c = $"{n} disconnects";
        section.Add(new Row(c, "cancelled log lines", "count", ts.Lines.Count(l => l.Outcome == "cancelled"), bl.Lines.Count(l => l.Outcome == "cancelled")));
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
        section.Notes.Add("ReleaseMs: the server's own per-stream log, from the disconnect being seen to the query's DB connection closed");
        Report.Print(section);
    }

    /// <summary>
    /// N silos forming one local cluster on one SQLite file, the same closed-loop clients spread round-robin
    /// over their APIs: the cluster forming, requests and query grains spreading (random placement), and what
    /// cross-silo grain calls cost. All silos share the machine's cores: a demo, not a speed-up.
    /// </summary>
    private static async Task ScaleAsync(BenchContext context)
    {
        var options = context.Options;
        var section = context.Report.Begin("scale",
            $"scale: N silos in one local cluster (localhost membership, one SQLite file), {options.ScaleClients} closed-loop clients " +
            $"streaming /tasks/stream?limit=5 round-robin over the N APIs, {options.Warmup.TotalSeconds:0} s warm-up then " +
            $"{options.Duration.TotalSeconds:0} s per level; no baseline and no target (a demo of the cluster, not a comparison)");
        section.Columns = ["silos", "formed in", "streams/s", "errors", "TTFE p50", "TTFE p99", "query grains per silo", "streams by grain silo",
            "cross-silo", "stream time local / cross"];
        var database = context.Paths.NewDatabase("scale");
        for (var level = 0; level < options.ScaleSilos.Length; level++)
        {
            await ScaleLevelAsync(context, section, database, level, options.ScaleSilos[level]);
        }

        section.Notes.Add("all silos and the client share the same cores (2 here), so streams/s does not rise with N on this machine: " +
            "each silo adds its own runtime, membership probes and cross-silo messaging on the same CPUs. What the table shows is the " +
            "cluster forming, requests spread over N APIs, query grains spread by random placement, and the cost of cross-silo grain calls");
        section.Notes.Add("silo k is --instance k (ports base + k); formed in: from starting silo 0 (which must answer before the others " +
            "start) until every silo's /status lists all N");
        section.Notes.Add("query grains per silo: each silo's /status query_grains after the load (live TaskQuery activations, busy or idle: " +
            "each API silo keeps up to TaskStream:Grains:PoolSize idle grains for reuse, wherever they were placed)");
        section.Notes.Add("streams by grain silo: the measured streams counted by the silo their end event names (where the query grain ran); " +
            "cross-silo: the share of them whose grain ran on another silo than the API that served the request; stream time: their mean " +
            "time from request to end event, grain on the API's own silo / on another. Random placement puts about (N-1)/N of the grains on " +
            "another silo, but each API silo reuses its pooled grains in turn, and a remote grain comes back to the pool later (its stream " +
            "is slower, and the release waits for the grain's Dispose round trip after the client got end), so it runs fewer streams: " +
            "the cross-silo share of streams is well below (N-1)/N");
        Report.Print(section);
    }

    private static readonly TimeSpan ClusterLimit = TimeSpan.FromSeconds(60);

    /// <summary>One level of <c>scale</c>: a fresh cluster of n silos, loaded, read, and killed.</summary>
    private static async Task ScaleLevelAsync(BenchContext context, Section section, string database, int level, int n)
    {
        var (options, report) = (context.Options, context.Report);
        var c = $"{n} silo{(n == 1 ? "" : "s")}";
        const string path = "/tasks/stream?limit=5";
        var taken = new HashSet<int>();
        var (api, siloPort, gateway) = (ServerProcess.FreePortRun(n, taken), ServerProcess.FreePortRun(n, taken), ServerProcess.FreePortRun(n, taken));
        var clusterId = $"bench-{Environment.ProcessId}-{level}-{n}";
        ServerConfig Config(int instance) => new(database, 1_000, EventIntervalMs: 0, LogStreams: false)
        {
            Member = new ClusterMember(instance, api, siloPort, gateway, clusterId),
        };

        var silos = new List<ServerProcess>();
        try
        {
            Progress("scale", $"{c}: starting cluster {clusterId} (API ports {api}-{api + n - 1})");
            var starting = Stopwatch.GetTimestamp();
            // Instance 0 holds the membership table and creates the database: it answers before the others start.
            silos.Add(await context.StartAsync(Target.TaskStream, Config(0)));
            var others = Enumerable.Range(1, n - 1).Select(k => context.StartAsync(Target.TaskStream, Config(k))).ToList();
            try
            {
                await Task.WhenAll(others);
            }
            finally
            {
                silos.AddRange(others.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result)); // to be killed below
            }

            var (formed, seen) = await WaitForClusterAsync(context, silos, n);
            var formedIn = Stopwatch.GetElapsedTime(starting);
            if (!formed)
            {
                report.Problem("scale", $"{c}: the cluster did not form within {ClusterLimit.TotalSeconds:0} s; silos seen by silo 0, 1, …: " +
                    string.Join("; ", seen.Select(s => s is null ? "no answer" : $"{s.Silos.Count} ({string.Join(", ", s.Silos)})")));
                section.Table.Add([c, "not formed", "-", "-", "-", "-", "-", "-", "-", "-"]);
                return;
            }

            var urls = silos.Select(s => s.Url(path)).ToList();
            var plan = new StreamPlan { ExpectTasks = 5, ReadEndSilo = true };
            var clients = options.ScaleClients;
            await WarmUpAsync(context, section, c, silos, () =>
                Drivers.ClosedLoopAsync(context.Load, urls, plan, clients, options.Warmup, context.Token));
            Progress("scale", $"{c}: {clients} clients for {options.Duration.TotalSeconds:0} s");
            var (stats, elapsed) = await Drivers.ClosedLoopAsync(context.Load, urls, plan, clients, options.Duration, context.Token);
            foreach (var silo in silos)
            {
                silo.EnsureRunning($"{c}, {clients} clients");
            }

            // After the load: every silo back to 0 streams and connections, and the query grains it holds.
            var after = new List<ServerStatus>();
            foreach (var silo in silos)
            {
                var (status, waited) = await silo.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);
                report.Check(status.ActiveStreams == 0 && status.OpenConnections == 0, "scale",
                    $"{c}: silo {status.Silo} still has {status.ActiveStreams} streams and {status.OpenConnections} connections open {waited.TotalSeconds:0.0} s after the load");
                after.Add(status);
            }

            // Which silo's grain ran each measured stream (its end event says), and whether that was the API's own silo.
            var instanceOfSilo = after.Select((s, k) => (Silo: s.Silo ?? "", k)).ToDictionary(p => p.Silo, p => p.k);
            var instanceOfApi = silos.Select((s, k) => (s.BaseUri.Authority, k)).ToDictionary(p => p.Authority, p => p.k);
            var byGrainSilo = new long[n];
            long placed = 0;
            var (local, cross) = (new LoadStats.Tally(), new LoadStats.Tally());
            var strangers = new List<string>();
            foreach (var ((apiAuthority, grainSilo), tally) in stats.Placements)
            {
                placed += tally.Streams;
                if (!instanceOfSilo.TryGetValue(grainSilo, out var grainAt) || !instanceOfApi.TryGetValue(apiAuthority, out var apiAt))
                {
                    strangers.Add($"{tally.Streams}× {grainSilo} via {apiAuthority}");
                    continue;
                }

                byGrainSilo[grainAt] += tally.Streams;
                if (grainAt == apiAt)
                {
                    local = new LoadStats.Tally(local.Streams + tally.Streams, local.TotalMs + tally.TotalMs);
                }
                else
                {
                    cross = new LoadStats.Tally(cross.Streams + tally.Streams, cross.TotalMs + tally.TotalMs);
                }
            }

            report.Check(stats.Errors == 0, "scale", $"{c}: {stats.ErrorSummary()}");
            report.Check(stats.Ok > 0, "scale", $"{c}: no stream completed");
            report.Check(placed == stats.Ok, "scale", $"{c}: {stats.Ok - placed} of {stats.Ok} correct streams named no silo in their end event");
            report.Check(strangers.Count == 0, "scale", $"{c}: end events named silos outside the cluster: {string.Join(", ", strangers)}");

            var streamsPerSecond = stats.Ok / elapsed.TotalSeconds;
            var crossShare = placed == 0 ? double.NaN : 100.0 * cross.Streams / placed;
            static double Mean(LoadStats.Tally t) => t.Streams == 0 ? double.NaN : t.TotalMs / t.Streams;
            var (p50, p99) = (stats.TtfePercentile(50), stats.TtfePercentile(99));
            section.Add(new Row(c, "cluster formed in", "s", formedIn.TotalSeconds, null));
            section.Add(new Row(c, "streams/s", "/s", streamsPerSecond, null));
            section.Add(new Row(c, "errors", "count", stats.Errors, null));
            section.Add(new Row(c, "TTFE p50", "ms", p50, null));
            section.Add(new Row(c, "TTFE p99", "ms", p99, null));
            for (var k = 0; k < n; k++)
            {
                section.Add(new Row(c, $"query grains on silo {k}", "count", after[k].QueryGrains, null));
                section.Add(new Row(c, $"streams whose grain ran on silo {k}", "count", byGrainSilo[k], null));
            }

            section.Add(new Row(c, "cross-silo streams", "%", crossShare, null));
            section.Add(new Row(c, "mean stream time, grain on the API's silo", "ms", Mean(local), null));
            section.Add(new Row(c, "mean stream time, grain on another silo", "ms", Mean(cross), null));
            var invariant = System.Globalization.CultureInfo.InvariantCulture;
            string Ms(double ms) => double.IsNaN(ms) ? "-" : ms.ToString(ms < 10 ? "0.00" : "0.0", invariant) + " ms";
            section.Table.Add([
                c,
                formedIn.TotalSeconds.ToString("0.0", invariant) + " s",
                streamsPerSecond.ToString("#,0", invariant),
                stats.Errors.ToString(invariant),
                Ms(p50),
                Ms(p99),
                string.Join(" / ", after.Select(s => s.QueryGrains?.ToString(invariant) ?? "?")),
                string.Join(" / ", byGrainSilo.Select(v => v.ToString("#,0", invariant))),
                crossShare.ToString("0", invariant) + " %",
                $"{Ms(Mean(local))} / {Ms(Mean(cross))}",
            ]);
        }
        finally
        {
            foreach (var silo in Enumerable.Reverse(silos))
            {
                await silo.DisposeAsync();
            }
        }
    }

    /// <summary>Polls every silo's /status (bounded) until each lists all n silos as active.</summary>
    private static async Task<(bool Formed, List<ServerStatus?> Seen)> WaitForClusterAsync(BenchContext context, IReadOnlyList<ServerProcess> silos, int n)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            var seen = new List<ServerStatus?>();
            foreach (var silo in silos)
            {
                silo.EnsureRunning("cluster start");
                try
                {
                    seen.Add(await silo.StatusAsync(context.Load.Http, context.Token));
                }
                catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException
                    && !context.Token.IsCancellationRequested)
                {
                    seen.Add(null);
                }
            }

            if (seen.All(s => s?.Silos.Count == n))
            {
                return (true, seen);
            }

            if (Stopwatch.GetElapsedTime(start) >= ClusterLimit)
            {
                return (false, seen);
            }

            await Task.Delay(100, context.Token);
        }
    }

    /// <summary>Opens n streams that hold after their first event; Release() lets them all close.</summary>
    private static async Task<HeldStreams> OpenAndHoldAsync(BenchContext context, ServerProcess server, string path, int n)
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var plan = new StreamPlan { HoldAfterFirst = hold.Task };
        var (stats, allDone) = await Drivers.OpenManyAsync(context.Load, server.Url(path), _ => plan, n,
            context.Options.ConnectConcurrency, context.Token);
        return new HeldStreams(stats, allDone, hold);
    }

    private sealed record HeldStreams(LoadStats Stats, Task AllDone, TaskCompletionSource Hold)
    {
        public void Release() => Hold.TrySetResult();
    }

    /// <summary>Runs warm-up load (nothing of it is measured) unless the warm-up is zero; notes its errors.</summary>
    private static Task WarmUpAsync(BenchContext context, Section section, ServerProcess server, Func<Task<(LoadStats Stats, TimeSpan Elapsed)>> load) =>
        WarmUpAsync(context, section, server.Target.ToString(), [server], load);

    /// <summary>The same for load spread over several servers (the silos of a cluster), named <paramref name="who"/>.</summary>
    private static async Task WarmUpAsync(BenchContext context, Section section, string who, IReadOnlyList<ServerProcess> servers,
        Func<Task<(LoadStats Stats, TimeSpan Elapsed)>> load)
    {
        if (context.Options.Warmup <= TimeSpan.Zero)
        {
            return;
        }

        Progress(section.Scenario, $"{who}: warming up");
        var (stats, elapsed) = await load();
        foreach (var server in servers)
        {
            server.EnsureRunning("warm-up");
        }

        if (stats.Errors > 0)
        {
            section.Notes.Add($"{who} warm-up ({elapsed.TotalSeconds:0} s): {stats.ErrorSummary()}");
        }
    }

    private static void Progress(string scenario, string text) =>
        Console.WriteLine($"  [{DateTime.Now:HH:mm:ss} {scenario}] {text}");

    /// <summary>
    /// The baseline must write the very bytes the silo writes, or the comparison is not like for like: the
    /// task events byte for byte, and an end event with the same count. Extra fields the silo puts in its end
    /// event (diagnostics such as which silo served it) are noted, not failed: they are a few bytes per stream.
    /// </summary>
    private static async Task CheckSameBytesAsync(BenchContext context, Section section, ServerProcess taskStream, ServerProcess baseline, string path)
    {
        var silo = System.Text.Encoding.UTF8.GetString(await context.Load.Http.GetByteArrayAsync(taskStream.Url(path), context.Token));
        var bare = System.Text.Encoding.UTF8.GetString(await context.Load.Http.GetByteArrayAsync(baseline.Url(path), context.Token));
        var (siloTasks, siloEnd) = SplitAtEnd(silo);
        var (bareTasks, bareEnd) = SplitAtEnd(bare);
        var sameEnd = siloEnd?.TryGetProperty("count", out var siloCount) == true && bareEnd?.TryGetProperty("count", out var bareCount) == true
            && siloCount.GetInt64() == bareCount.GetInt64();
        context.Report.Check(siloTasks == bareTasks && sameEnd, "short",
            $"baseline's SSE differs from the silo's for {path}:\n--- silo\n{silo}\n--- baseline\n{bare}");
        var extra = siloEnd?.EnumerateObject().Select(p => p.Name).Where(name => name != "count").ToList() ?? [];
        if (extra.Count > 0)
        {
            section.Notes.Add($"the silo's end event carries fields the baseline's does not: {string.Join(", ", extra)}; task events are byte-identical");
        }

        static (string Tasks, System.Text.Json.JsonElement? End) SplitAtEnd(string body)
        {
            var at = body.IndexOf("event: end\n", StringComparison.Ordinal);
            if (at < 0)
            {
                return (body, null);
            }

            var data = body[at..].Split('\n').FirstOrDefault(line => line.StartsWith("data: ", StringComparison.Ordinal));
            return (body[..at], data is null ? null : System.Text.Json.JsonDocument.Parse(data["data: ".Length..]).RootElement.Clone());
        }
    }
}
