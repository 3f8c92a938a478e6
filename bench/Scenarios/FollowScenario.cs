using Dapper;
using Npgsql;

namespace TaskStream.Bench;

/// <summary>
/// <c>follow</c>: the live feed. N follow streams held open on a fresh silo — what they cost while idle
/// (memory, threads, CPU) — then W writes through the API and W written directly to the store by the bench
/// (another program, as far as the silo knows), one at a time, and how long each takes to reach every follower.
/// SQLite, and PostgreSQL when a server is given. 1 silo on SQLite is also measured on the baseline, the bare
/// fan-out floor (<see cref="FollowLevel"/> measures a level).
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
            "INSERTs one at a time" + (options.FollowSilos.Contains(1) ? "; 1 silo on SQLite also on the baseline (API writes only)" : ""));
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

        section.Notes.Add("baseline (1 silo, SQLite): the machine's floor for fan-out: bare Kestrel on loopback with the same client, " +
            "no Orleans; its follow streams send the silo's events from one snapshot read, and its POST /tasks hands each new row " +
            "to every open follower from memory. It sees only writes made through it, so it has no direct-INSERT rows, and it has " +
            "no store counters. No target: figures and ratios only");
        section.Notes.Add("memory per follower = (RSS 2 s after all N got `live` − RSS of the warm silo with no stream open) / N; " +
            "threads from /proc/PID/status; idle CPU = utime+stime from /proc/PID/stat over the idle window, as % of one core, " +
            "first with no stream open, then with the N followers live");
        section.Notes.Add("store connections per write = connections the silo opened during the API writes (its own counter; the " +
            "write's own included) / writes; change-log reads = the silo's taskstream.feed.log_reads counter, by reader; bytes " +
            "allocated and GCs = the silos' .NET runtime counters (dotnet.gc.heap.total_allocated, dotnet.gc.collections) over the " +
            "API writes, the bytes per delivered pair");
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
                "change crosses silos as a hint; memory, threads and idle CPU are silo 1's");
        }

        if (options.FollowSilos.Any(n => n >= 3))
        {
            section.Notes.Add("3 or more silos: writes through silo 0's API, followers round robin over every silo's; memory, threads " +
                "and idle CPU are summed over the silos, memory per follower = the sum of their RSS growth / N");
        }

        if (options.FollowClientProcesses > 1)
        {
            section.Notes.Add($"followers held by {options.FollowClientProcesses} child processes of the bench (follow-client), " +
                "follower i in process i mod P; their CPU is counted as the client's, with the bench's own");
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

    /// <summary>
    /// One level on TaskStream and, for 1 silo on SQLite, on the baseline too (a fresh server on a copy of the
    /// silo's new database, the same N and writes), merged into one row per figure.
    /// </summary>
    private static async Task FollowLevelAsync(BenchContext context, Section section, int silos, string? postgres)
    {
        var c = (silos == 1 ? "1 silo" : $"{silos} silos") + (postgres is null ? ", SQLite" : ", PostgreSQL");
        var database = context.Paths.NewDatabase($"follow-{silos}");
        var baselineDatabase = silos == 1 && postgres is null ? context.Paths.NewDatabase("follow-baseline") : null;
        var taskStream = await FollowLevel.MeasureAsync(context, Target.TaskStream, silos, database, postgres, c, baselineDatabase);
        var baseline = baselineDatabase is null ? null
            : (await FollowLevel.MeasureAsync(context, Target.Baseline, 1, baselineDatabase, null, c)).ToDictionary(f => f.Metric, f => f.Value);
        foreach (var figure in taskStream)
        {
            section.Add(new Row(c, figure.Metric, figure.Unit, figure.Value,
                baseline is not null && baseline.TryGetValue(figure.Metric, out var b) ? b : null));
        }
    }
}
