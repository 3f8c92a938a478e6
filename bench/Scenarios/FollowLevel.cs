using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using static TaskStream.Bench.FollowWrites;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>One figure of a <c>follow</c> level, named as the table prints it.</summary>
internal sealed record Figure(string Metric, string Unit, double Value);

/// <summary>
/// One <c>follow</c> level on one target: fresh servers, N followers held idle, then the writes, one at a time, and
/// what they cost. The baseline gets the API writes only (it does not watch the store for other writers).
/// </summary>
internal static class FollowLevel
{
    /// <summary>
    /// Measures one level. <paramref name="copyTo"/>: where to copy the silo's freshly created SQLite database
    /// before anything is written to it, for the baseline's level to start from the same store.
    /// </summary>
    public static async Task<List<Figure>> MeasureAsync(
        BenchContext context, Target target, int silos, string database, string? postgres, string c, string? copyTo = null)
    {
        var (options, report) = (context.Options, context.Report);
        var who = target == Target.TaskStream ? c : $"{c}, baseline";
        var n = options.FollowStreams;
        var servers = new List<ServerProcess>();
        var figures = new List<Figure>();
        void Add(string metric, string unit, double value) => figures.Add(new Figure(metric, unit, value));
        try
        {
            var config = new ServerConfig(database, 5, EventIntervalMs: 0, LogStreams: false) { Postgres = postgres };
            if (silos == 1)
            {
                servers.Add(await context.StartAsync(target, config));
            }
            else if (!(await LocalCluster.StartAsync(context, "follow", c, config, silos, $"bench-{Environment.ProcessId}-follow-{silos}", servers)).Formed)
            {
                report.Problem("follow", $"{c}: the cluster did not form within {ClusterLimit.TotalSeconds:0} s");
                return figures;
            }

            if (copyTo is not null)
            {
                await using var from = new SqliteConnection($"Data Source={database}");
                await using var to = new SqliteConnection($"Data Source={copyTo}");
                from.Open();
                from.BackupDatabase(to); // a consistent copy while the silo runs
            }

            // 2 silos: writes through silo 0, every follower on silo 1, so each change crosses silos. Otherwise the
            // followers go round robin over every silo and the writes through silo 0.
            var writer = servers[0];
            IReadOnlyList<ServerProcess> hosts = silos == 2 ? [servers[1]] : servers;
            if (options.Warmup > TimeSpan.Zero)
            {
                // JIT the follow and write paths, so the first measured writes do not measure it.
                Progress("follow", $"{who}: warming up");
                var warm = await OpenAsync(context, hosts, Math.Min(200, n));
                await WriteAllAsync(context, warm, 5, 0, i => PostAsync(context, writer, i));
                await warm.CloseAsync();
            }

            foreach (var host in hosts)
            {
                await host.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);
            }

            await Task.Delay(1000, context.Token);
            var (rssBefore, threadsBefore) = (hosts.Sum(h => h.Memory().RssKb), hosts.Sum(h => h.Threads()));
            // The same window with nobody following: the runtime's own idle cost, to set the followers' against.
            Progress("follow", $"{who}: no followers, idle for {options.FollowIdle.TotalSeconds:0.#} s");
            var quietPercent = await IdleCpuPercentAsync(context, hosts);

            Progress("follow", $"{who}: opening {n:#,0} followers");
            var opening = Stopwatch.GetTimestamp();
            var followers = await OpenAsync(context, hosts, n);
            var openSeconds = Stopwatch.GetElapsedTime(opening).TotalSeconds;
            try
            {
                report.Check(followers.Errors.Count == 0, "follow", $"{who}: followers failed to go live: {LoadStats.Summarize(followers.Errors)}", target);
                await Task.Delay(2000, context.Token); // let the servers settle before reading their memory
                EnsureRunning(servers, $"{who}, {n} followers");
                var (rssAfter, threadsAfter) = (hosts.Sum(h => h.Memory().RssKb), hosts.Sum(h => h.Threads()));
                long active = 0;
                foreach (var host in hosts)
                {
                    active += (await host.StatusAsync(context.Load.Http, context.Token)).ActiveStreams;
                }

                report.Check(active == followers.Live, "follow", $"{who}: {active} active streams reported while {followers.Live} followers were live", target);

                Progress("follow", $"{who}: {followers.Live:#,0} followers idle for {options.FollowIdle.TotalSeconds:0.#} s");
                var idlePercent = await IdleCpuPercentAsync(context, hosts);

                Progress("follow", $"{who}: {options.FollowWrites} writes via {writer.BaseUri.Authority}");
                var counted = await SiloCountersAsync(context, hosts);
                var cpu = CpuTicks(servers, followers);
                var writes = await WriteAllAsync(context, followers, options.FollowWrites, 0, i => PostAsync(context, writer, i));
                var cpuAfter = CpuTicks(servers, followers);
                var countedAfter = await SiloCountersAsync(context, hosts);
                List<Write> direct = [];
                if (target == Target.TaskStream)
                {
                    Progress("follow", $"{who}: {options.FollowWrites} direct INSERTs on a connection of the bench's own");
                    await using var store = await OpenStoreAsync(database, postgres, context.Token);
                    direct = await WriteAllAsync(context, followers, options.FollowWrites, writes.Count, i => InsertAsync(store, i, context.Token));
                }

                EnsureRunning(servers, $"{who}, writes");
                // Closed before the figures: the child processes (if any) report what their followers got as they close.
                var record = await followers.CloseAsync();
                var delivery = record.Latencies(writes);
                var allFollowers = writes.Select(w => record.LastArrival(w.Seq) is { } last ? Between(w.RespondedAt, last) : double.NaN).ToList();
                foreach (var problem in record.OrderProblems([.. writes, .. direct]).Take(5))
                {
                    report.Problem("follow", $"{who}: {problem}", target);
                }

                Add("followers live", "count", followers.Live);
                Add("time to open all", "s", openSeconds);
                Add("memory per follower", "KB", (rssAfter - rssBefore) / (double)n);
                Add("threads before", "count", threadsBefore);
                Add("threads after", "count", threadsAfter);
                Add("idle CPU, no followers", "%", quietPercent);
                Add("idle CPU, followers live", "%", idlePercent);
                Add("write (POST) p50", "ms", Percentiles.Of(writes.Select(w => w.PostMs), 50));
                Add("delivery p50", "ms", Percentiles.Of(delivery, 50));
                Add("delivery p99", "ms", Percentiles.Of(delivery, 99));
                Add("delivery max", "ms", delivery.Count == 0 ? double.NaN : delivery.Max());
                Add("all followers have it p50", "ms", Percentiles.Of(allFollowers, 50));
                Add("all followers have it max", "ms", allFollowers.Count == 0 ? double.NaN : allFollowers.Max());
                Add("(write, follower) pairs delivered", "count", delivery.Count);
                var (serverTicks, clientTicks) = (cpuAfter.Server - cpu.Server, cpuAfter.Client - cpu.Client);
                Add("server CPU per delivered pair", "µs", serverTicks * 10_000.0 / delivery.Count);
                Add("client CPU per delivered pair", "µs", clientTicks * 10_000.0 / delivery.Count);
                Add("client share of CPU", "%", 100.0 * clientTicks / (clientTicks + serverTicks));
                if (target == Target.TaskStream)
                {
                    var directDelivery = record.Latencies(direct);
                    Add("store connections per write", "count", (countedAfter.Opened - counted.Opened) / (double)writes.Count);
                    Add("change-log reads per write, by followers", "count", countedAfter.Diff(counted, "feed_reads:follower") / (double)writes.Count);
                    Add("change-log reads per write, by the feed", "count", countedAfter.Diff(counted, "feed_reads:feed") / (double)writes.Count);
                    Add("bytes allocated per delivered pair", "B", countedAfter.Diff(counted, "allocated") / (double)delivery.Count);
                    Add("GCs during the writes, gen0", "count", countedAfter.Diff(counted, "gc:gen0"));
                    Add("GCs during the writes, gen1", "count", countedAfter.Diff(counted, "gc:gen1"));
                    Add("GCs during the writes, gen2", "count", countedAfter.Diff(counted, "gc:gen2"));
                    Add("direct INSERT p50", "ms", Percentiles.Of(direct.Select(w => w.PostMs), 50));
                    Add("direct delivery p50", "ms", Percentiles.Of(directDelivery, 50));
                    Add("direct delivery p99", "ms", Percentiles.Of(directDelivery, 99));
                    Add("direct delivery max", "ms", directDelivery.Count == 0 ? double.NaN : directDelivery.Max());
                    Add("(direct write, follower) pairs delivered", "count", directDelivery.Count);
                }
            }
            finally
            {
                await followers.CloseAsync();
            }

            foreach (var server in servers)
            {
                var (drained, waited) = await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);
                report.Check(drained.ActiveStreams == 0 && drained.OpenConnections == 0, "follow",
                    $"{who}: {drained.ActiveStreams} streams and {drained.OpenConnections} connections still open {waited.TotalSeconds:0.0} s after closing", target);
            }
        }
        finally
        {
            foreach (var server in Enumerable.Reverse(servers))
            {
                await server.DisposeAsync();
            }
        }

        return figures;
    }

    /// <summary>Opens n followers round robin over the hosts: in this process, or in child processes when asked for more than one.</summary>
    private static async Task<IFollowers> OpenAsync(BenchContext context, IReadOnlyList<ServerProcess> hosts, int n)
    {
        var (urls, options) = (hosts.Select(h => h.BaseUri).ToList(), context.Options);
        return options.FollowClientProcesses > 1
            ? await FollowClients.OpenAsync(urls, n, options.FollowClientProcesses, options.ConnectConcurrency, context.Token)
            : await Followers.OpenAsync(context.Load.Http, urls, n, options.ConnectConcurrency, context.Token);
    }

    private static void EnsureRunning(IEnumerable<ServerProcess> servers, string during)
    {
        foreach (var server in servers)
        {
            server.EnsureRunning(during);
        }
    }

    /// <summary>
    /// What the silos counted so far, summed over them: store connections opened (each read and write opens one), and by
    /// name: change-log reads by reader (<c>feed_reads:follower</c>, <c>feed_reads:feed</c>), bytes allocated
    /// (<c>allocated</c>) and garbage collections by generation (<c>gc:gen0</c> …). The baseline exports none.
    /// </summary>
    private static async Task<SiloCounters> SiloCountersAsync(BenchContext context, IEnumerable<ServerProcess> hosts)
    {
        var (opened, counts) = (0L, new Dictionary<string, long>());
        void Count(string name, long value) => counts[name] = counts.GetValueOrDefault(name) + value;
        foreach (var host in hosts)
        {
            var metrics = await host.MetricsTextAsync(context.Load.Http, context.Token);
            opened += PrometheusText.Sum(metrics, "taskstream_db_connections_opened_total");
            Count("allocated", PrometheusText.Sum(metrics, "dotnet_gc_heap_total_allocated_bytes_total"));
            foreach (var (reader, count) in PrometheusText.SumBy(metrics, "taskstream_feed_log_reads_total", "reader"))
            {
                Count("feed_reads:" + reader, count);
            }

            foreach (var (generation, count) in PrometheusText.SumBy(metrics, "dotnet_gc_collections_total", "gc_heap_generation"))
            {
                Count("gc:" + generation, count);
            }
        }

        return new SiloCounters(opened, counts);
    }

    private sealed record SiloCounters(long Opened, Dictionary<string, long> Counts)
    {
        public long Diff(SiloCounters before, string name) => Counts.GetValueOrDefault(name) - before.Counts.GetValueOrDefault(name);
    }

    /// <summary>CPU time used so far (ticks, 100 a second) by the servers together and by the client (this process and its follow clients).</summary>
    private static (long Server, long Client) CpuTicks(IEnumerable<ServerProcess> servers, IFollowers followers) =>
        (servers.Sum(s => s.CpuTicks()),
            ServerProcess.CpuTicksOf("self") + followers.ClientPids.Sum(pid => ServerProcess.CpuTicksOf(pid.ToString(CultureInfo.InvariantCulture))));

    /// <summary>The hosts' CPU time (utime + stime, 100 ticks a second) over the idle window, as % of one core.</summary>
    private static async Task<double> IdleCpuPercentAsync(BenchContext context, IReadOnlyList<ServerProcess> hosts)
    {
        var (ticks, start) = (hosts.Sum(h => h.CpuTicks()), Stopwatch.GetTimestamp());
        await Task.Delay(context.Options.FollowIdle, context.Token);
        return 100 * (hosts.Sum(h => h.CpuTicks()) - ticks) * 10.0 / Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
