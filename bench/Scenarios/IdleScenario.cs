using System.Diagnostics;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>Many open streams that each got their first event and then wait: memory per stream.</summary>
internal sealed class IdleScenario : IScenario
{
    public string Name => "idle";

    public async Task RunAsync(BenchContext context)
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
            await WarmUpAsync(context, section, server, () => RoundsForAsync(warmup, async stats =>
            {
                var round = await OpenAndHoldAsync(context, server, warmupPath, Math.Min(200, n));
                round.Release();
                await round.AllDone;
                stats.Add(round.Stats);
            }));
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
}
