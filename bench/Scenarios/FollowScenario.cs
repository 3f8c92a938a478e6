using System.Diagnostics;
using Dapper;
using Npgsql;
using static TaskStream.Bench.FollowWrites;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>
/// <c>follow</c>: the live feed. N follow streams held open on a fresh silo — what they cost while idle
/// (memory, threads, CPU) — then W writes through the API and W written directly to the store by the bench
/// (another program, as far as the silo knows), one at a time, and how long each takes to reach every follower.
/// SQLite, and PostgreSQL when a server is given. No baseline: the baseline server has no follow mode.
/// </summary>
internal sealed class FollowScenario : IScenario
{
    public string Name => "follow";

    public async Task RunAsync(BenchContext context)
    {
        var options = context.Options;
        var section = context.Report.Begin("follow",
            $"follow: {options.FollowStreams:#,0} follow streams (/tasks/stream?follow=true) per level, idle for " +
            $"{options.FollowIdle.TotalSeconds:0.#} s, then {options.FollowWrites} writes (POST /tasks) and {options.FollowWrites} direct " +
            "INSERTs one at a time; TaskStream only");
        section.Columns = ["case", "metric", "TaskStream"];
        foreach (var n in options.FollowSilos)
        {
            await FollowLevelAsync(context, section, n, postgres: null);
        }

        if (options.FollowPostgres is { } server)
        {
            await FollowOnPostgresAsync(context, section, server);
        }
        else
        {
            section.Notes.Add("PostgreSQL not measured: give --follow-postgres (or TASKSTREAM_BENCH_POSTGRES) to add 1 silo on it");
        }

        section.Notes.Add("no baseline, ratio or target: the baseline server has no follow mode; figures only");
        section.Notes.Add("memory per follower = (RSS 2 s after all N got `live` − RSS of the warm silo with no stream open) / N; " +
            "threads from /proc/PID/status; idle CPU = utime+stime from /proc/PID/stat over the idle window, as % of one core, " +
            "first with no stream open, then with the N followers live");
        section.Notes.Add("store connections per write = connections the silo opened during the API writes (its own counter; the " +
            "write's own included) / writes; change-log reads = the silo's taskstream.feed.log_reads counter, by reader");
        section.Notes.Add("client share: over the API writes, the silos' CPU (utime+stime of /proc/PID/stat, all silos) and the bench " +
            "client's (/proc/self/stat: parsing every follower's events, the writes, the wait between them), each per delivered " +
            "(write, follower) pair, and client / (client + server). The client shares the 2 cores with the silo, so that share is the " +
            "part of the delivery time that is the client's own parsing, not the server's fan-out");
        section.Notes.Add("delivery = the POST's response received → that write's `task` event (id = X-TaskStream-Seq) parsed by a " +
            "follower, over every (write, follower) pair; it can be slightly negative when the event beats the response. " +
            "Each write waits until every follower has it; all followers = response → the last follower has it");
        section.Notes.Add("direct = an INSERT (title, description, completed) on a plain connection of the bench's own, past the API, " +
            "as sqlite3 or psql would make it; delivery = the INSERT's return (committed) → its `task` event parsed by a follower. " +
            "The silo learns of it from the store: SQLite by PRAGMA data_version every StorePollMs (100 ms), PostgreSQL by LISTEN/NOTIFY");
        if (options.FollowSilos.Contains(2))
        {
            section.Notes.Add("2 silos: a local cluster (as in scale), writes through silo 0's API, followers on silo 1's, so each " +
                "change crosses silos as a hint; memory, threads and CPU are silo 1's");
        }

        Report.Print(section);
    }

    /// <summary>1 silo on a fresh database of its own on <paramref name="server"/>, dropped afterwards.</summary>
    private static async Task FollowOnPostgresAsync(BenchContext context, Section section, string server)
    {
        var name = $"bench_follow_{Environment.ProcessId}";
        await using (var admin = new NpgsqlConnection(server))
        {
            await admin.OpenAsync(context.Token);
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            await admin.ExecuteAsync($"CREATE DATABASE {name}");
        }

        try
        {
            // Every follower reads the log when a change comes, each on a connection of its own: with Npgsql's default
            // pool of 100 the silo alone can take all of a default server's connections and have reads refused.
            await FollowLevelAsync(context, section, 1, new NpgsqlConnectionStringBuilder(server) { Database = name, MaxPoolSize = 30 }.ToString());
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(server);
            await admin.OpenAsync(CancellationToken.None);
            await admin.ExecuteAsync($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        }
    }

    private static async Task FollowLevelAsync(BenchContext context, Section section, int silos, string? postgres)
    {
        var (options, report) = (context.Options, context.Report);
        var c = (silos == 1 ? "1 silo" : "2 silos") + (postgres is null ? ", SQLite" : ", PostgreSQL");
        var n = options.FollowStreams;
        var database = context.Paths.NewDatabase($"follow-{silos}");
        var servers = new List<ServerProcess>();
        try
        {
            var config = new ServerConfig(database, 5, EventIntervalMs: 0, LogStreams: false) { Postgres = postgres };
            if (silos == 1)
            {
                servers.Add(await context.StartAsync(Target.TaskStream, config));
            }
            else
            {
                var (formed, _) = await LocalCluster.StartAsync(context, "follow", c, config, 2, $"bench-{Environment.ProcessId}-follow", servers);
                if (!formed)
                {
                    report.Problem("follow", $"{c}: the cluster did not form within {ClusterLimit.TotalSeconds:0} s");
                    return;
                }
            }

            var (writer, host) = (servers[0], servers[^1]);
            if (options.Warmup > TimeSpan.Zero)
            {
                // JIT the follow and write paths, so the first measured writes do not measure it.
                Progress("follow", $"{c}: warming up");
                var warm = await Followers.OpenAsync(context, host, Math.Min(200, n));
                await WriteAllAsync(context, warm, 5, 0, i => PostAsync(context, writer, i));
                warm.Close();
            }

            await host.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);
            await Task.Delay(1000, context.Token);
            var (rssBefore, threadsBefore) = (host.Memory().RssKb, host.Threads());
            // The same window with nobody following: the runtime's own idle cost, to set the followers' against.
            Progress("follow", $"{c}: no followers, idle for {options.FollowIdle.TotalSeconds:0.#} s");
            var quietPercent = await IdleCpuPercentAsync(context, host);

            Progress("follow", $"{c}: opening {n:#,0} followers");
            var opening = Stopwatch.GetTimestamp();
            var followers = await Followers.OpenAsync(context, host, n);
            var openSeconds = Stopwatch.GetElapsedTime(opening).TotalSeconds;
            try
            {
                report.Check(followers.Errors.IsEmpty, "follow", $"{c}: followers failed to go live: {LoadStats.Summarize(followers.Errors)}");
                await Task.Delay(2000, context.Token); // let the silo settle before reading its memory
                host.EnsureRunning($"{c}, {n} followers");
                var (rssAfter, threadsAfter) = (host.Memory().RssKb, host.Threads());
                var status = await host.StatusAsync(context.Load.Http, context.Token);
                report.Check(status.ActiveStreams == followers.Live, "follow",
                    $"{c}: silo reported {status.ActiveStreams} active streams while {followers.Live} followers were live");

                Progress("follow", $"{c}: {followers.Live:#,0} followers idle for {options.FollowIdle.TotalSeconds:0.#} s");
                var idlePercent = await IdleCpuPercentAsync(context, host);

                Progress("follow", $"{c}: {options.FollowWrites} writes via {writer.BaseUri.Authority}");
                var (opened, logReads) = await StoreReadsAsync(context, host);
                var cpu = CpuTicks(servers);
                var writes = await WriteAllAsync(context, followers, options.FollowWrites, 0, i => PostAsync(context, writer, i));
                var cpuAfter = CpuTicks(servers);
                var (openedAfter, logReadsAfter) = await StoreReadsAsync(context, host);
                Progress("follow", $"{c}: {options.FollowWrites} direct INSERTs on a connection of the bench's own");
                List<Write> direct;
                await using (var store = await OpenStoreAsync(database, postgres, context.Token))
                {
                    direct = await WriteAllAsync(context, followers, options.FollowWrites, writes.Count, i => InsertAsync(store, i, context.Token));
                }

                foreach (var server in servers)
                {
                    server.EnsureRunning($"{c}, writes");
                }

                var delivery = followers.Latencies(writes);
                var directDelivery = followers.Latencies(direct);
                var allFollowers = writes.Select(w => followers.LastArrival(w.Seq) is { } last ? Between(w.RespondedAt, last) : double.NaN).ToList();
                foreach (var problem in followers.OrderProblems([.. writes, .. direct]).Take(5))
                {
                    report.Problem("follow", $"{c}: {problem}");
                }

                void Add(string metric, string unit, double value)
                {
                    section.Add(new Row(c, metric, unit, value, null));
                    section.Table.Add([c, $"{metric} ({unit})", Report.Format(value, unit)]);
                }

                Add("followers live", "count", followers.Live);
                Add("time to open all", "s", openSeconds);
                Add("memory per follower", "KB", (rssAfter - rssBefore) / (double)n);
                section.Add(new Row(c, "threads before", "count", threadsBefore, null));
                section.Add(new Row(c, "threads after", "count", threadsAfter, null));
                section.Table.Add([c, "threads before / after (count)", $"{threadsBefore} / {threadsAfter}"]);
                Add("idle CPU, no followers", "%", quietPercent);
                Add($"idle CPU, {followers.Live:#,0} followers", "%", idlePercent);
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
                Add("store connections per write", "count", (openedAfter - opened) / (double)writes.Count);
                Add("change-log reads per write, by followers", "count",
                    (logReadsAfter.GetValueOrDefault("follower") - logReads.GetValueOrDefault("follower")) / (double)writes.Count);
                Add("change-log reads per write, by the feed", "count",
                    (logReadsAfter.GetValueOrDefault("feed") - logReads.GetValueOrDefault("feed")) / (double)writes.Count);
                Add("direct INSERT p50", "ms", Percentiles.Of(direct.Select(w => w.PostMs), 50));
                Add("direct delivery p50", "ms", Percentiles.Of(directDelivery, 50));
                Add("direct delivery p99", "ms", Percentiles.Of(directDelivery, 99));
                Add("direct delivery max", "ms", directDelivery.Count == 0 ? double.NaN : directDelivery.Max());
                Add("(direct write, follower) pairs delivered", "count", directDelivery.Count);
            }
            finally
            {
                followers.Close();
            }

            foreach (var server in servers)
            {
                var (drained, waited) = await server.WaitDrainedAsync(context.Load.Http, DrainLimit, context.Token);
                report.Check(drained.ActiveStreams == 0 && drained.OpenConnections == 0, "follow",
                    $"{c}: {drained.ActiveStreams} streams and {drained.OpenConnections} connections still open {waited.TotalSeconds:0.0} s after closing");
            }
        }
        finally
        {
            foreach (var server in Enumerable.Reverse(servers))
            {
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// The silo's store connections opened so far (each read and write opens one), and its change-log reads by
    /// reader (<c>follower</c>, <c>feed</c>; none on a silo from before the in-memory fan-out).
    /// </summary>
    private static async Task<(long Opened, IReadOnlyDictionary<string, long> LogReads)> StoreReadsAsync(BenchContext context, ServerProcess host)
    {
        var metrics = await host.MetricsTextAsync(context.Load.Http, context.Token);
        return (PrometheusText.Sum(metrics, "taskstream_db_connections_opened_total"), PrometheusText.SumBy(metrics, "taskstream_feed_log_reads_total", "reader"));
    }

    /// <summary>CPU time used so far (ticks, 100 a second) by the silos together and by the client (this process).</summary>
    private static (long Server, long Client) CpuTicks(IEnumerable<ServerProcess> servers) =>
        (servers.Sum(s => s.CpuTicks()), ServerProcess.CpuTicksOf("self"));

    /// <summary>The silo's CPU time (utime + stime, 100 ticks a second) over the idle window, as % of one core.</summary>
    private static async Task<double> IdleCpuPercentAsync(BenchContext context, ServerProcess host)
    {
        var (ticks, start) = (host.CpuTicks(), Stopwatch.GetTimestamp());
        await Task.Delay(context.Options.FollowIdle, context.Token);
        return 100 * (host.CpuTicks() - ticks) * 10.0 / Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }
}
