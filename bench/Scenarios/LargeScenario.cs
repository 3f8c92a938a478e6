using System.Diagnostics;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>One client streaming a large table: throughput and the server's memory while it serves it.</summary>
internal sealed class LargeScenario : IScenario
{
    public string Name => "large";

    public async Task RunAsync(BenchContext context)
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
            await WarmUpAsync(context, section, server, () => RoundsForAsync(options.Warmup, async stats =>
                stats.Add(await context.Load.StreamAsync(server.Url(path), plan, context.Token))));
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
}
