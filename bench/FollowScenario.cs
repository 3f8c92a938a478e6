using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace TaskStream.Bench;

/// <summary>
/// <c>follow</c>: the live feed. N follow streams held open on a fresh silo — what they cost while idle
/// (memory, threads, CPU) — then W writes through the API and W written directly to the store by the bench
/// (another program, as far as the silo knows), one at a time, and how long each takes to reach every follower.
/// SQLite, and PostgreSQL when a server is given. No baseline: the baseline server has no follow mode.
/// </summary>
public static partial class Scenarios
{
    private static async Task FollowAsync(BenchContext context)
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
        section.Notes.Add("the bench client parses every follower's events on the same 2 cores, so delivery includes the client's own " +
            "fan-in of N events per write");
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
            if (silos == 1)
            {
                servers.Add(await context.StartAsync(Target.TaskStream, new ServerConfig(database, 5, EventIntervalMs: 0, LogStreams: false) { Postgres = postgres }));
            }
            else
            {
                var taken = new HashSet<int>();
                var (api, siloPort, gateway) = (ServerProcess.FreePortRun(2, taken), ServerProcess.FreePortRun(2, taken), ServerProcess.FreePortRun(2, taken));
                var clusterId = $"bench-{Environment.ProcessId}-follow";
                ServerConfig Config(int instance) => new(database, 5, EventIntervalMs: 0, LogStreams: false)
                {
                    Member = new ClusterMember(instance, api, siloPort, gateway, clusterId),
                    Postgres = postgres,
                };

                Progress("follow", $"{c}: starting cluster {clusterId}");
                servers.Add(await context.StartAsync(Target.TaskStream, Config(0)));
                servers.Add(await context.StartAsync(Target.TaskStream, Config(1)));
                var (formed, _) = await WaitForClusterAsync(context, servers, 2);
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
                var warm = await FollowersAsync(context, host, Math.Min(200, n));
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
            var followers = await FollowersAsync(context, host, n);
            var openSeconds = Stopwatch.GetElapsedTime(opening).TotalSeconds;
            try
            {
                report.Check(followers.Errors.IsEmpty, "follow", $"{c}: followers failed to go live: {Summary(followers.Errors)}");
                await Task.Delay(2000, context.Token); // let the silo settle before reading its memory
                host.EnsureRunning($"{c}, {n} followers");
                var (rssAfter, threadsAfter) = (host.Memory().RssKb, host.Threads());
                var status = await host.StatusAsync(context.Load.Http, context.Token);
                report.Check(status.ActiveStreams == followers.Live, "follow",
                    $"{c}: silo reported {status.ActiveStreams} active streams while {followers.Live} followers were live");

                Progress("follow", $"{c}: {followers.Live:#,0} followers idle for {options.FollowIdle.TotalSeconds:0.#} s");
                var idlePercent = await IdleCpuPercentAsync(context, host);

                Progress("follow", $"{c}: {options.FollowWrites} writes via {writer.BaseUri.Authority}");
                var writes = await WriteAllAsync(context, followers, options.FollowWrites, 0, i => PostAsync(context, writer, i));
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

    /// <summary>The silo's CPU time (utime + stime, 100 ticks a second) over the idle window, as % of one core.</summary>
    private static async Task<double> IdleCpuPercentAsync(BenchContext context, ServerProcess host)
    {
        var (ticks, start) = (host.CpuTicks(), Stopwatch.GetTimestamp());
        await Task.Delay(context.Options.FollowIdle, context.Token);
        return 100 * (host.CpuTicks() - ticks) * 10.0 / Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    /// <summary>Milliseconds between two Stopwatch timestamps; negative when <paramref name="to"/> came first.</summary>
    private static double Between(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    private static string Summary(ConcurrentDictionary<string, int> errors) =>
        string.Join("; ", errors.OrderByDescending(e => e.Value).Select(e => $"{e.Value}× {e.Key}"));

    private sealed record Write(long Seq, long RespondedAt, double PostMs);

    /// <summary>
    /// Makes <paramref name="count"/> writes one after the other, each awaited (≤ 30 s) at every live follower
    /// before the next, so a write's delivery is its own and not queued behind the previous one's.
    /// <paramref name="before"/> writes were fanned out to these followers already.
    /// </summary>
    private static async Task<List<Write>> WriteAllAsync(BenchContext context, Followers followers, int count, int before, Func<int, Task<Write>> write)
    {
        var writes = new List<Write>();
        for (var i = 0; i < count; i++)
        {
            writes.Add(await write(i));
            var waiting = Stopwatch.GetTimestamp();
            while (followers.Received < (long)followers.Live * (before + i + 1) && Stopwatch.GetElapsedTime(waiting) < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(1, context.Token);
            }
        }

        return writes;
    }

    /// <summary>A write through the API: <c>POST /tasks</c>, its change number from <c>X-TaskStream-Seq</c>.</summary>
    private static async Task<Write> PostAsync(BenchContext context, ServerProcess writer, int i)
    {
        var sent = Stopwatch.GetTimestamp();
        using var content = new StringContent($$"""{"title":"bench follow {{i}}"}""", Encoding.UTF8, "application/json");
        using var response = await context.Load.Http.PostAsync(writer.Url("/tasks"), content, context.Token);
        var responded = Stopwatch.GetTimestamp();
        if (response.StatusCode != HttpStatusCode.Created
            || !response.Headers.TryGetValues("X-TaskStream-Seq", out var values)
            || !long.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
        {
            throw new InvalidOperationException($"POST /tasks answered {(int)response.StatusCode} without a sequence number: " +
                await response.Content.ReadAsStringAsync(context.Token));
        }

        return new Write(seq, responded, Stopwatch.GetElapsedTime(sent, responded).TotalMilliseconds);
    }

    /// <summary>A connection to the silo's store of the bench's own, as another program would open one.</summary>
    private static async Task<DbConnection> OpenStoreAsync(string sqlitePath, string? postgres, CancellationToken cancellationToken)
    {
        DbConnection connection = postgres is null
            ? new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = sqlitePath, DefaultTimeout = 5, Pooling = false }.ToString())
            : new NpgsqlConnection(postgres);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>An INSERT of the seed's columns only, committed on its own (no transaction); its change number read after.</summary>
    private static async Task<Write> InsertAsync(DbConnection store, int i, CancellationToken cancellationToken)
    {
        var sent = Stopwatch.GetTimestamp();
        var id = await store.ExecuteScalarAsync<long>(new CommandDefinition(
            "INSERT INTO tasks (title, description, completed) VALUES (@Title, '', FALSE) RETURNING id", new { Title = $"bench direct {i}" },
            cancellationToken: cancellationToken));
        var committed = Stopwatch.GetTimestamp();
        var seq = await store.ExecuteScalarAsync<long>(new CommandDefinition("SELECT seq FROM tasks WHERE id = @Id", new { Id = id }, cancellationToken: cancellationToken));
        return new Write(seq, committed, Stopwatch.GetElapsedTime(sent, committed).TotalMilliseconds);
    }

    /// <summary>Opens n follow streams, at most ConnectConcurrency waiting for their <c>live</c> event at once.</summary>
    private static async Task<Followers> FollowersAsync(BenchContext context, ServerProcess host, int n)
    {
        var followers = new Followers(context.Token);
        using var gate = new SemaphoreSlim(context.Options.ConnectConcurrency);
        var url = host.Url("/tasks/stream?follow=true");
        for (var i = 0; i < n; i++)
        {
            await gate.WaitAsync(context.Token);
            followers.Start(context.Load.Http, url, () => gate.Release());
        }

        // Each follower releases its slot once (live or failed), so all slots back means all are settled.
        for (var i = 0; i < context.Options.ConnectConcurrency; i++)
        {
            await gate.WaitAsync(context.Token);
        }

        return followers;
    }

    /// <summary>
    /// The open follow streams: each records, after its <c>live</c> event, every <c>task</c> event's id (the change
    /// sequence number) and arrival time; anything else after <c>live</c>, or a stream that ends, is an error.
    /// </summary>
    private sealed class Followers(CancellationToken token)
    {
        private readonly CancellationTokenSource _close = CancellationTokenSource.CreateLinkedTokenSource(token);
        private readonly ConcurrentBag<List<(long Seq, long At)>> _events = [];
        private readonly List<Task> _streams = [];
        private long _received;
        private int _live;

        public ConcurrentDictionary<string, int> Errors { get; } = new();

        public int Live => Volatile.Read(ref _live);

        /// <summary>Task events received after <c>live</c>, by all followers together.</summary>
        public long Received => Interlocked.Read(ref _received);

        public void Start(HttpClient http, Uri url, Action settled)
        {
            var events = new List<(long Seq, long At)>();
            _events.Add(events);
            _streams.Add(Task.Run(() => FollowAsync(http, url, events, settled)));
        }

        private async Task FollowAsync(HttpClient http, Uri url, List<(long Seq, long At)> events, Action settled)
        {
            var isSettled = false;
            void Settle()
            {
                if (!isSettled)
                {
                    isSettled = true;
                    settled();
                }
            }

            using var toLive = CancellationTokenSource.CreateLinkedTokenSource(_close.Token);
            toLive.CancelAfter(TimeSpan.FromSeconds(30));
            try
            {
                using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, toLive.Token);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Fail($"HTTP {(int)response.StatusCode}");
                    return;
                }

                await using var body = await response.Content.ReadAsStreamAsync(toLive.Token);
                var live = false;
                long snapshot = 0;
                await foreach (var item in SseParser.Create(body).EnumerateAsync(toLive.Token))
                {
                    var at = Stopwatch.GetTimestamp();
                    if (!live && item.EventType == "task")
                    {
                        snapshot++;
                    }
                    else if (!live && item.EventType == "live")
                    {
                        live = true;
                        toLive.CancelAfter(Timeout.InfiniteTimeSpan);
                        using var data = JsonDocument.Parse(item.Data);
                        if (data.RootElement.GetProperty("count").GetInt64() != snapshot)
                        {
                            Fail($"live count {data.RootElement.GetProperty("count")} after {snapshot} snapshot events");
                            return;
                        }

                        Interlocked.Increment(ref _live);
                        Settle();
                    }
                    else if (live && item.EventType == "task" && long.TryParse(item.EventId, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                    {
                        events.Add((seq, at));
                        Interlocked.Increment(ref _received);
                    }
                    else
                    {
                        Fail($"unexpected event '{item.EventType}' (id {item.EventId}) {(live ? "after" : "before")} live");
                        return;
                    }
                }

                Fail(live ? "stream ended while following" : "stream ended before live");
            }
            catch (OperationCanceledException) when (_close.IsCancellationRequested)
            {
                // closed by the bench
            }
            catch (OperationCanceledException)
            {
                Fail("timeout waiting for live");
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException)
            {
                Fail($"{exception.GetType().Name}: {exception.Message}");
            }
            finally
            {
                Settle();
            }
        }

        private void Fail(string error) => Errors.AddOrUpdate(error, 1, (_, k) => k + 1);

        /// <summary>Delivery latency (ms) of every write at every follower that got it.</summary>
        public List<double> Latencies(IReadOnlyList<Write> writes)
        {
            var respondedAt = writes.ToDictionary(w => w.Seq, w => w.RespondedAt);
            return [.. _events.SelectMany(e => e).Where(e => respondedAt.ContainsKey(e.Seq)).Select(e => Between(respondedAt[e.Seq], e.At))];
        }

        /// <summary>When the last follower got the change <paramref name="seq"/>; null when none did.</summary>
        public long? LastArrival(long seq) =>
            _events.SelectMany(e => e).Where(e => e.Seq == seq).Select(e => (long?)e.At).Max();

        /// <summary>Followers that did not get exactly these writes, once each, in order.</summary>
        public IEnumerable<string> OrderProblems(IReadOnlyList<Write> writes)
        {
            var expected = writes.Select(w => w.Seq).ToList();
            var wrong = _events.Where(e => !e.Select(x => x.Seq).SequenceEqual(expected)).ToList();
            if (wrong.Count > 0)
            {
                yield return $"{wrong.Count} of {_events.Count} followers did not get the {expected.Count} writes exactly once in order; " +
                    $"e.g. got [{string.Join(",", wrong[0].Select(x => x.Seq).Take(20))}], expected [{string.Join(",", expected.Take(20))}]";
            }

            if (!Errors.IsEmpty)
            {
                yield return $"follower errors: {Summary(Errors)}";
            }
        }

        /// <summary>Closes every stream (the client disconnects) and waits for them to finish.</summary>
        public void Close()
        {
            _close.Cancel();
            Task.WaitAll([.. _streams], TimeSpan.FromSeconds(30));
            _close.Dispose();
        }
    }
}
