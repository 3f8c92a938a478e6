using System.Diagnostics;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>Closed-loop clients each repeatedly streaming the five seed tasks, TaskStream beside the baseline.</summary>
internal sealed class ShortScenario : IScenario
{
    public string Name => "short";

    public async Task RunAsync(BenchContext context)
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
