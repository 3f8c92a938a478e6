using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;
using Xunit.Abstractions;
using static TaskStream.Tests.Infrastructure.ExternalWriter;

namespace TaskStream.Tests;

/// <summary>
/// The live feed's invariant over HTTP, on two silos of one cluster, by random histories: writers on both silos'
/// APIs and another program (sqlite3 / psql, less often) create tasks, flip and retitle them and delete them at
/// once, while followers of every filter, with and without <c>limit</c>, hang up at random points — mid-snapshot
/// (pages of 3 tasks, paced) and mid-catch-up included — and come back with their Last-Event-ID on either silo,
/// some only after the log's horizon (30 changes) has passed them. Followers take changes from their silo's change
/// window, kept at 4 changes so that bursts outrun it. Whenever writes have settled, every follower
/// that is connected and following must hold exactly what <c>/tasks/list</c> shows for its filter (with
/// <c>limit</c>: the part its last snapshot and later changes entitle it to), and on every connection event ids
/// must strictly increase (<see cref="FeedView"/>). The seed is printed; TASKSTREAM_MODEL_SEED replays it (the same
/// choices, not the same timing), TASKSTREAM_MODEL_CASES sets the number of histories.
/// </summary>
public abstract class FollowModelHttpTests(SiloPair silos, ITestOutputHelper output)
{
    internal static readonly (string, string)[] Settings =
    [
        ("TaskStream:Database:PageSize", "3"),
        ("TaskStream:Database:RetainChanges", "30"),
        ("TaskStream:Streaming:EventIntervalMs", "2"),
        // Each silo's change window keeps 4 changes: bursts outrun it, so followers fall behind it and catch up from the store.
        ("TaskStream:Streaming:FeedWindowRows", "4"),
    ];

    private const int DefaultCases = 100;

    [Fact]
    public async Task RandomHistoriesFromSeveralWritersLeaveEveryResumingFollowerEqualToTheListWhenWritesSettle()
    {
        var seed = Environment.GetEnvironmentVariable("TASKSTREAM_MODEL_SEED") is { } s ? int.Parse(s, CultureInfo.InvariantCulture) : Random.Shared.Next();
        var cases = Environment.GetEnvironmentVariable("TASKSTREAM_MODEL_CASES") is { } c ? int.Parse(c, CultureInfo.InvariantCulture) : DefaultCases;
        output.WriteLine($"{silos.Provider}: seed {seed} (TASKSTREAM_MODEL_SEED={seed} replays it), {cases} cases");
        var random = new Random(seed);
        var stats = new Stats();
        var pool = new ConcurrentDictionary<long, byte>((await silos.MatchingAsync(null)).Keys.Select(id => KeyValuePair.Create(id, (byte)0)));
        var followers = new List<ModelFollower>();
        bool?[] filters = [null, true, false];
        for (var i = 0; i < 6; i++)
        {
            followers.Add(new ModelFollower(i, filters[i % 3], i < 3 ? null : random.Next(1, 7), stats));
        }

        var done = 0;
        try
        {
            for (; done < cases; done++)
            {
                await RunCaseAsync(new Random(random.Next()), followers, pool, stats);
            }
        }
        catch (Exception exception)
        {
            throw new Xunit.Sdk.XunitException(
                $"{silos.Provider}: seed {seed} (TASKSTREAM_MODEL_SEED={seed}), case {done + 1} of {cases}: {exception.Message}\n{exception.StackTrace}");
        }
        finally
        {
            foreach (var follower in followers)
            {
                await follower.DisconnectAsync();
            }
        }

        output.WriteLine($"{cases} cases: {stats}");
    }

    private async Task RunCaseAsync(Random random, List<ModelFollower> followers, ConcurrentDictionary<long, byte> pool, Stats stats)
    {
        // Each writer and the followers' hang-ups get their own generator, so a seed fixes every choice.
        var writers = new List<Task>
        {
            WriteThroughApiAsync(new Random(random.Next()), pool, _ => silos.A, random.Next(2, 8)),
            WriteThroughApiAsync(new Random(random.Next()), pool, _ => silos.B, random.Next(2, 8)),
            WriteThroughApiAsync(new Random(random.Next()), pool, r => r.Next(2) == 0 ? silos.A : silos.B, random.Next(2, 8)),
            WriteDirectlyAsync(new Random(random.Next()), pool, random.Next(0, 3)),
        };
        // A number of hang-ups and returns of its own, not "while writes last", so a fast machine gets as many.
        await Task.WhenAll([.. writers, HangUpAndResumeAsync(new Random(random.Next()), followers, random.Next(8, 20))]);

        // Settle: followers away for a while may stay away (to come back past the horizon), the rest are
        // connected for good; then a change every filter hears of, which each must reach while following.
        var checking = new List<ModelFollower>();
        foreach (var follower in followers)
        {
            if (!follower.Connected && follower.AwayCases < 3 && random.NextDouble() < 0.35)
            {
                follower.AwayCases++;
                continue;
            }

            follower.AwayCases = 0;
            if (!follower.KeepListening())
            {
                await follower.ConnectAsync(random.Next(2) == 0 ? silos.A : silos.B, budget: 0, fresh: false);
            }

            checking.Add(follower);
        }

        var (open, done) = await BarriersAsync(pool);
        foreach (var follower in checking)
        {
            var barrier = follower.Completed switch { null => Math.Max(open, done), true => done, false => open };
            await Eventually.TrueAsync(() => Task.FromResult(follower.HasFollowedTo(barrier)), TimeSpan.FromSeconds(30),
                $"{follower} follows up to change {barrier}\n{follower.Log()}");
        }

        var matching = new Dictionary<string, Dictionary<long, (string Json, long Seq)>>();
        foreach (var completed in new bool?[] { null, true, false })
        {
            matching[completed?.ToString() ?? "any"] = await silos.MatchingAsync(completed);
        }

        foreach (var follower in checking)
        {
            follower.AssertView(matching[follower.Completed?.ToString() ?? "any"]);
            Interlocked.Increment(ref stats.Checked);
        }
    }

    /// <summary>
    /// The last writes: a new open task through one silo, then a completed one through the other. Each filter hears
    /// of its own by the plainest rule (a new task that matches), so a follower that has it has every change before it.
    /// </summary>
    private async Task<(long Open, long Done)> BarriersAsync(ConcurrentDictionary<long, byte> pool)
    {
        var (open, openSeq) = await WriteAsync(silos.A, HttpMethod.Post, "/tasks", """{"title":"Barrier"}""");
        var (done, doneSeq) = await WriteAsync(silos.B, HttpMethod.Post, "/tasks", """{"title":"Barrier","completed":true}""");
        pool[open!.Value.GetProperty("id").GetInt64()] = 0;
        pool[done!.Value.GetProperty("id").GetInt64()] = 0;
        return (openSeq!.Value, doneSeq!.Value);
    }

    private async Task WriteThroughApiAsync(Random random, ConcurrentDictionary<long, byte> pool, Func<Random, TaskStreamServer> silo, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Delay(random.Next(0, 20)); // room for followers to hang up and come back between writes
            var server = silo(random);
            var title = $"Title {random.Next(1000)}";
            switch (NextKind(random, pool))
            {
                case Kind.Create:
                    var (created, _) = await WriteAsync(server, HttpMethod.Post, "/tasks",
                        $$"""{"title":"{{title}}","completed":{{(random.Next(2) == 0 ? "true" : "false")}}}""");
                    pool[created!.Value.GetProperty("id").GetInt64()] = 0;
                    break;
                case Kind.Flip:
                    await WriteAsync(server, HttpMethod.Patch, $"/tasks/{Pick(random, pool)}", $$"""{"completed":{{(random.Next(2) == 0 ? "true" : "false")}}}""");
                    break;
                case Kind.Retitle:
                    await WriteAsync(server, HttpMethod.Patch, $"/tasks/{Pick(random, pool)}", $$"""{"title":"{{title}}"}""");
                    break;
                default:
                    await WriteAsync(server, HttpMethod.Delete, $"/tasks/{Forget(pool, Pick(random, pool))}", null);
                    break;
            }
        }
    }

    /// <summary>Another program's writes: one process per statement, or a transaction of several.</summary>
    private async Task WriteDirectlyAsync(Random random, ConcurrentDictionary<long, byte> pool, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var statements = Enumerable.Range(0, random.Next(3) == 0 ? random.Next(2, 4) : 1).Select(_ => NextKind(random, pool) switch
            {
                Kind.Create => $"INSERT INTO tasks (title, description, completed) VALUES ({Literal($"Direct {random.Next(1000)}")}, 'direct', {Literal(random.Next(2) == 0)}) RETURNING id;",
                Kind.Flip => $"UPDATE tasks SET completed = NOT completed WHERE id = {Pick(random, pool)};",
                Kind.Retitle => $"UPDATE tasks SET title = {Literal($"Retitled {random.Next(1000)}")} WHERE id = {Pick(random, pool)};",
                _ => $"DELETE FROM tasks WHERE id = {Forget(pool, Pick(random, pool))};",
            }).ToList();
            var sql = statements.Count == 1 ? statements[0]
                : (silos.Provider == "sqlite" ? "BEGIN IMMEDIATE;" : "BEGIN;") + string.Concat(statements) + "COMMIT;";
            foreach (var line in (await silos.External.RunAsync(sql)).Lines)
            {
                pool[long.Parse(line, CultureInfo.InvariantCulture)] = 0;
            }
        }
    }

    private enum Kind { Create, Flip, Retitle, Delete }

    // Creates and deletes keep about 25 tasks, so snapshots stay a few pages long.
    private static Kind NextKind(Random random, ConcurrentDictionary<long, byte> pool) =>
        (pool.Count < 5 ? 0 : pool.Count < 25 ? random.Next(8) : pool.Count < 40 ? random.Next(7) : random.Next(1, 7)) switch
        {
            0 or 7 => Kind.Create,
            1 or 2 => Kind.Flip,
            3 or 4 => Kind.Retitle,
            _ => Kind.Delete,
        };

    private static long Forget(ConcurrentDictionary<long, byte> pool, long id)
    {
        pool.TryRemove(id, out _);
        return id;
    }

    private static long Pick(Random random, ConcurrentDictionary<long, byte> pool)
    {
        var ids = pool.Keys.Order().ToList();
        return ids.Count == 0 ? 1 : ids[random.Next(ids.Count)];
    }

    /// <summary>Alongside the writes: followers hang up, and come back with their Last-Event-ID on either silo.</summary>
    private async Task HangUpAndResumeAsync(Random random, List<ModelFollower> followers, int steps)
    {
        for (var step = 0; step < steps; step++)
        {
            var delay = random.Next(0, 25);
            var follower = followers[random.Next(followers.Count)];
            var hangUp = random.Next(5) < 3;
            var budget = random.Next(3) == 0 ? 0 : random.Next(1, 13);
            var fresh = random.Next(6) == 0; // a new client (a page reloaded): no Last-Event-ID, a snapshot
            var server = random.Next(2) == 0 ? silos.A : silos.B;
            await Task.Delay(delay);
            if (follower.AwayCases > 0)
            {
                continue; // staying away past the horizon
            }

            if (follower.Connected)
            {
                if (hangUp)
                {
                    await follower.DisconnectAsync();
                }
            }
            else
            {
                await follower.ConnectAsync(server, budget, fresh);
            }
        }
    }

    private static async Task<(JsonElement? Body, long? Seq)> WriteAsync(TaskStreamServer server, HttpMethod method, string url, string? json)
    {
        using var request = new HttpRequestMessage(method, url);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await server.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode == HttpStatusCode.NotFound && method != HttpMethod.Post)
        {
            return (null, null); // another writer deleted it first
        }

        Assert.True(response.IsSuccessStatusCode, $"{method} {url}: {(int)response.StatusCode} {text}");
        var seq = long.Parse(response.Headers.GetValues("X-TaskStream-Seq").Single(), CultureInfo.InvariantCulture);
        return (text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : null, seq);
    }

    /// <summary>What the run exercised, printed at its end.</summary>
    private sealed class Stats
    {
        // Counted by several followers' readers at once.
        public int Checked;
        public int Connects;
        public int Resumes;
        public int Resets;
        public int HungUpMidSnapshot;
        public int HungUpMidCatchUp;

        public override string ToString() =>
            $"{Checked} views checked equal; {Connects} connections, {Resumes} of them resumes; {Resets} resets; " +
            $"hung up {HungUpMidSnapshot} times mid-snapshot and {HungUpMidCatchUp} times mid-catch-up";
    }

    /// <summary>
    /// A client following one filter across many connections, as an EventSource would; a connection reads on in
    /// the background until the client hangs up, or until its budget of events is spent (0: no budget).
    /// </summary>
    private sealed class ModelFollower(int number, bool? completed, int? limit, Stats stats)
    {
        private readonly object _gate = new();
        private readonly FeedView _view = new();
        private readonly Queue<string> _log = new();
        private FeedFollower? _stream;
        private Task? _reader;
        private int _budget;
        private bool _hangingUp;
        private bool _resumed; // this connection resumed and has not yet said `live`
        private Exception? _failure;

        public bool? Completed => completed;

        public int AwayCases { get; set; }

        public bool Connected
        {
            get
            {
                lock (_gate)
                {
                    return _reader is not null && !_hangingUp;
                }
            }
        }

        private string Url =>
            "/tasks/stream?follow=true" + (completed is { } c ? $"&completed={(c ? "true" : "false")}" : "") + (limit is { } l ? $"&limit={l}" : "");

        public async Task ConnectAsync(TaskStreamServer server, int budget, bool fresh)
        {
            await DisconnectAsync();
            string? lastEventId;
            lock (_gate)
            {
                lastEventId = fresh ? null : _view.LastEventId;
                _view.Connecting(lastEventId);
                (_budget, _hangingUp, _resumed) = (budget, false, lastEventId is not null);
                Note($"connect to {server.BaseAddress.Port} with Last-Event-ID {lastEventId ?? "none"}, budget {budget}");
                Interlocked.Increment(ref stats.Connects);
                Interlocked.Add(ref stats.Resumes, lastEventId is null ? 0 : 1);
            }

            var stream = await FeedFollower.OpenAsync(server.Http, Url, lastEventId);
            lock (_gate)
            {
                (_stream, _reader) = (stream, ReadAsync(stream));
            }
        }

        /// <summary>Reads on for good if still connected (false: it is hanging up, or away).</summary>
        public bool KeepListening()
        {
            ThrowIfFailed();
            lock (_gate)
            {
                if (_reader is null || _hangingUp)
                {
                    return false;
                }

                _budget = 0;
                return true;
            }
        }

        public bool HasFollowedTo(long seq)
        {
            ThrowIfFailed();
            lock (_gate)
            {
                return _view.Following && _view.Position >= seq;
            }
        }

        public void AssertView(IReadOnlyDictionary<long, (string Json, long Seq)> matching)
        {
            lock (_gate)
            {
                var expected = _view.Expected(matching, limit is not null).OrderBy(t => t.Key).ToList();
                var actual = _view.Tasks.OrderBy(t => t.Key).ToList();
                if (!expected.SequenceEqual(actual))
                {
                    Assert.Fail($"{this}: the view differs from the list.\nexpected: {string.Join(", ", expected.Select(t => t.Value))}\n" +
                        $"actual:   {string.Join(", ", actual.Select(t => t.Value))}\ncatch-up from {_view.CatchUpFrom}, snapshot " +
                        $"[{string.Join(",", _view.SnapshotIds.Order())}]\n{Log()}");
                }
            }
        }

        public async Task DisconnectAsync()
        {
            FeedFollower? stream;
            Task? reader;
            lock (_gate)
            {
                if (_reader is { IsCompleted: false } && !_hangingUp)
                {
                    CountHangUp();
                }

                (stream, reader, _hangingUp) = (_stream, _reader, true);
            }

            if (stream is not null)
            {
                await stream.DisposeAsync();
            }

            if (reader is not null)
            {
                await reader;
            }

            lock (_gate)
            {
                (_stream, _reader) = (null, null);
            }

            ThrowIfFailed();
        }

        private async Task ReadAsync(FeedFollower stream)
        {
            while (true)
            {
                SseEvent e;
                try
                {
                    e = await stream.NextAsync(TimeSpan.FromMinutes(10));
                }
                catch (Exception exception)
                {
                    lock (_gate)
                    {
                        // A read cut short by our own hang-up is the point; the stream ending otherwise is a failure.
                        _failure ??= _hangingUp ? null : exception;
                    }

                    return;
                }

                lock (_gate)
                {
                    Note($"{e.Type} {e.Id} {e.Data}");
                    try
                    {
                        _view.Apply(e);
                    }
                    catch (Exception exception)
                    {
                        _failure ??= exception;
                        return;
                    }

                    Interlocked.Add(ref stats.Resets, e.Type == "reset" ? 1 : 0);
                    _resumed &= e.Type is not ("live" or "reset");
                    if (_budget == 0 || --_budget > 0)
                    {
                        continue;
                    }

                    _hangingUp = true;
                    CountHangUp();
                }

                await stream.DisposeAsync();
                return;
            }
        }

        private void CountHangUp()
        {
            Interlocked.Add(ref stats.HungUpMidSnapshot, _view.Following ? 0 : 1);
            Interlocked.Add(ref stats.HungUpMidCatchUp, _resumed ? 1 : 0);
            Note("hang up");
        }

        private void ThrowIfFailed()
        {
            lock (_gate)
            {
                if (_failure is { } failure)
                {
                    throw new Xunit.Sdk.XunitException($"{this}: {failure.Message}\n{Log()}");
                }
            }
        }

        private void Note(string line)
        {
            _log.Enqueue(line);
            if (_log.Count > 80)
            {
                _log.Dequeue();
            }
        }

        public string Log()
        {
            lock (_gate)
            {
                return "its last events and connections:\n  " + string.Join("\n  ", _log);
            }
        }

        public override string ToString() => $"follower {number} ({Url})";
    }
}

[Collection(nameof(ModelSilos))]
public sealed class SqliteFollowModelHttpTests(ModelSilos silos, ITestOutputHelper output) : FollowModelHttpTests(silos, output);

[Collection(nameof(PostgresModelSilos))]
public sealed class PostgresFollowModelHttpTests(PostgresModelSilos silos, ITestOutputHelper output) : FollowModelHttpTests(silos, output);
