using System.Diagnostics;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>
/// N silos forming one local cluster on one SQLite file behind nginx (as <c>scripts/cluster.sh</c> runs them), the same
/// closed-loop clients all on the balancer's one address: the cluster forming, requests spread by the balancer, query
/// grains placed on the relaying silo (the default) or at random (the demo setting), and what cross-silo grain calls
/// cost. All silos share the machine's cores: a demo, not a speed-up.
/// </summary>
internal sealed class ScaleScenario : IScenario
{
    public string Name => "scale";

    public async Task RunAsync(BenchContext context)
    {
        var options = context.Options;
        var section = context.Report.Begin("scale",
            $"scale: N silos in one local cluster (localhost membership, one SQLite file) behind nginx, {options.ScaleClients} closed-loop clients " +
            $"streaming /tasks/stream?limit=5 through the balancer, {options.Warmup.TotalSeconds:0} s warm-up then " +
            $"{options.Duration.TotalSeconds:0} s per level and placement; no baseline and no target (a demo of the cluster, not a comparison)");
        section.Columns = ["silos", "placement", "formed in", "streams/s", "errors", "TTFE p50", "TTFE p99", "query grains per silo",
            "streams by relay silo", "streams by grain silo", "cross-silo", "stream time local / cross"];
        var database = context.Paths.NewDatabase("scale");
        var level = 0;
        foreach (var n in options.ScaleSilos)
        {
            // One silo has nowhere else to place a grain: one run. More: the default, then random placement.
            foreach (var placement in n == 1 ? ["local"] : new[] { "local", "random" })
            {
                await ScaleLevelAsync(context, section, database, level++, n, placement);
            }
        }

        section.Notes.Add("all silos, nginx and the client share the same cores (2 here), so streams/s does not rise with N on this machine: " +
            "each silo adds its own runtime, membership probes and cross-silo messaging on the same CPUs, and every stream crosses nginx. " +
            "What the table shows is the cluster forming, requests spread by the balancer, where query grains run, and the cost of " +
            "cross-silo grain calls");
        section.Notes.Add("silo k is --instance k (ports base + k); formed in: from starting silo 0 (which must answer before the others " +
            "start) until every silo's /status lists all N; nginx (scripts/balancer.sh, round robin) is started after that");
        section.Notes.Add("query grains per silo: each silo's /status query_grains after the load (live TaskQuery activations, busy or idle: " +
            "each API silo keeps up to TaskStream:Grains:PoolSize idle grains for reuse, wherever they were placed)");
        section.Notes.Add("streams by relay / grain silo: the measured streams counted by the silo their end event names as relay and as the " +
            "one whose grain ran the query; cross-silo: the share of them whose grain ran on another silo than their relay; stream time: " +
            "their mean time from request to end event, grain on the relay's own silo / on another. Placement local (the default) puts " +
            "every grain on its relay. Random puts about (N-1)/N of new grains elsewhere, but each relay reuses its pooled grains in turn, " +
            "and a remote grain comes back to the pool later (its stream is slower), so it runs fewer streams: the cross-silo share of " +
            "streams is below (N-1)/N");
        Report.Print(section);
    }

    /// <summary>One level of <c>scale</c>: a fresh cluster of n silos with the given placement behind nginx, loaded, read, and killed.</summary>
    private static async Task ScaleLevelAsync(BenchContext context, Section section, string database, int level, int n, string placement)
    {
        var (options, report) = (context.Options, context.Report);
        var c = $"{n} silo{(n == 1 ? "" : "s")}, {placement}";
        const string path = "/tasks/stream?limit=5";
        var silos = new List<ServerProcess>();
        Balancer? balancer = null;
        try
        {
            var starting = Stopwatch.GetTimestamp();
            var (formed, seen) = await LocalCluster.StartAsync(context, "scale", c, new ServerConfig(database, 1_000, EventIntervalMs: 0, LogStreams: false) { Placement = placement },
                n, $"bench-{Environment.ProcessId}-{level}-{n}", silos);
            var formedIn = Stopwatch.GetElapsedTime(starting);
            if (!formed)
            {
                report.Problem("scale", $"{c}: the cluster did not form within {ClusterLimit.TotalSeconds:0} s; silos seen by silo 0, 1, …: " +
                    string.Join("; ", seen.Select(s => s is null ? "no answer" : $"{s.Silos.Count} ({string.Join(", ", s.Silos)})")));
                section.Table.Add([$"{n}", placement, "not formed", "-", "-", "-", "-", "-", "-", "-", "-", "-"]);
                return;
            }

            balancer = await Balancer.StartAsync(context, silos, Path.Combine(Path.GetDirectoryName(database)!, $"nginx-{level}"));
            var urls = new[] { balancer.Url(path) };
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

            // Which silo relayed each measured stream and whose grain ran it (its end event says both), and whether they were one.
            var instanceOfSilo = after.Select((s, k) => (Silo: s.Silo ?? "", k)).ToDictionary(p => p.Silo, p => p.k);
            var (byRelaySilo, byGrainSilo) = (new long[n], new long[n]);
            long placed = 0;
            var (local, cross) = (new LoadStats.Tally(), new LoadStats.Tally());
            var strangers = new List<string>();
            foreach (var ((relaySilo, grainSilo), tally) in stats.Placements)
            {
                placed += tally.Streams;
                if (!instanceOfSilo.TryGetValue(grainSilo, out var grainAt) || !instanceOfSilo.TryGetValue(relaySilo, out var apiAt))
                {
                    strangers.Add($"{tally.Streams}× {grainSilo} relayed by {relaySilo}");
                    continue;
                }

                byRelaySilo[apiAt] += tally.Streams;
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
            report.Check(placement != "local" || cross.Streams == 0, "scale", $"{c}: {cross.Streams} streams' grains ran on another silo than their relay");
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
                section.Add(new Row(c, $"streams relayed by silo {k}", "count", byRelaySilo[k], null));
                section.Add(new Row(c, $"streams whose grain ran on silo {k}", "count", byGrainSilo[k], null));
            }

            section.Add(new Row(c, "cross-silo streams", "%", crossShare, null));
            section.Add(new Row(c, "mean stream time, grain on the API's silo", "ms", Mean(local), null));
            section.Add(new Row(c, "mean stream time, grain on another silo", "ms", Mean(cross), null));
            var invariant = System.Globalization.CultureInfo.InvariantCulture;
            string Ms(double ms) => double.IsNaN(ms) ? "-" : ms.ToString(ms < 10 ? "0.00" : "0.0", invariant) + " ms";
            section.Table.Add([
                $"{n}",
                placement,
                formedIn.TotalSeconds.ToString("0.0", invariant) + " s",
                streamsPerSecond.ToString("#,0", invariant),
                stats.Errors.ToString(invariant),
                Ms(p50),
                Ms(p99),
                string.Join(" / ", after.Select(s => s.QueryGrains?.ToString(invariant) ?? "?")),
                string.Join(" / ", byRelaySilo.Select(v => v.ToString("#,0", invariant))),
                string.Join(" / ", byGrainSilo.Select(v => v.ToString("#,0", invariant))),
                crossShare.ToString("0", invariant) + " %",
                $"{Ms(Mean(local))} / {Ms(Mean(cross))}",
            ]);
        }
        finally
        {
            if (balancer is not null)
            {
                await balancer.DisposeAsync();
            }

            foreach (var silo in Enumerable.Reverse(silos))
            {
                await silo.DisposeAsync();
            }
        }
    }
}
