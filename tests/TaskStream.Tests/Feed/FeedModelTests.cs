using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using CsCheck;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskStream.Grains;
using TaskStream.Grains.Data;
using TaskStream.Tests.Infrastructure;
using Xunit.Abstractions;

namespace TaskStream.Tests;

/// <summary>
/// The live feed's invariant, proven on random histories against a model rather than by examples: writers of
/// every kind (the API's writes, plain SQL on a connection of its own — single statements, multi-row statements,
/// transactions, no-op updates — and the sqlite3 / psql command-line programs) change a real store, while followers
/// of every filter, with and without a limit, read a few events at a time, disconnect and resume from their
/// Last-Event-ID at any point (mid-snapshot, mid-catch-up, beyond a tiny log horizon). The interleaving is the
/// test's, not the scheduler's: a follower runs only when stepped, so a failing history replays exactly and CsCheck
/// shrinks it. Checked: ids of change events strictly increase on a connection (so no change comes twice); and
/// whenever a follower has caught up, its view (events applied in order) equals what its filter shows in the store
/// — for a limited follower, the matching tasks it got in its snapshot or that changed after the position its
/// catch-up started from. Followers take changes from a silo's change window as a silo's follow queries do: the
/// window reads the store only when the history says (and before each check), and it is tiny (a few rows, a few KB),
/// so bursts outrun it and followers fall behind it mid-burst and catch up from the store themselves.
/// A failure prints the seed; <c>CsCheck_Seed=…</c> replays it, <c>CsCheck_Iter=N</c> runs N cases.
/// </summary>
public abstract class FeedModelTests(ITestOutputHelper output)
{
    private const int Followers = 4;

    /// <summary>Cases a run samples: <c>CsCheck_Iter</c> when set, else the subclass's CI-sized default.</summary>
    private int Cases => int.TryParse(Environment.GetEnvironmentVariable("CsCheck_Iter"), out var cases) ? cases : DefaultCases;

    protected abstract int DefaultCases { get; }

    protected abstract Task<ModelStore> CreateStoreAsync(int sampleTasks, int pageSize, int retain, (int Rows, int Bytes) window);

    [Fact]
    public Task EveryFollowersViewEqualsTheStoreWhateverTheWritersAndReconnects() =>
        Histories.SampleAsync(RunAsync, writeLine: output.WriteLine, iter: Cases, threads: 1, print: h => h.ToString());

    private static readonly Gen<FollowerSpec> FollowerSpecs = Gen.Select(Gen.Int[0, 2], Gen.Int[0, 6],
        (completed, limit) => new FollowerSpec(completed switch { 0 => null, 1 => true, _ => false }, limit == 0 ? null : limit));

    private static readonly Gen<Op> Ops = Gen.Frequency(
        (6, Gen.Select(Gen.Int[0, 9], Gen.Int[0, 99], (writer, n) => new Op(OpKind.Create, writer, n))),
        (6, Gen.Select(Gen.Int[0, 9], Gen.Int[0, 99], (writer, n) => new Op(OpKind.Flip, writer, n))),
        (4, Gen.Select(Gen.Int[0, 9], Gen.Int[0, 99], (writer, n) => new Op(OpKind.Retitle, writer, n))),
        (3, Gen.Select(Gen.Int[0, 9], Gen.Int[0, 99], (writer, n) => new Op(OpKind.Delete, writer, n))),
        (1, Gen.Select(Gen.Int[0, 9], Gen.Int[0, 99], (writer, n) => new Op(OpKind.SameValues, writer, n))),
        (1, Gen.Int[0, 2].Select(k => new Op(OpKind.FlipMany, 5, k))),
        (1, Gen.Int[0, 99].Select(n => new Op(OpKind.TwoInOneTransaction, 5, n))),
        (10, Gen.Select(Gen.Int[0, Followers - 1], Gen.Int[1, 6], (follower, n) => new Op(OpKind.Step, follower, n))),
        (4, Gen.Int[0, Followers - 1].Select(follower => new Op(OpKind.CatchUp, follower, 0))),
        (3, Gen.Int[0, Followers - 1].Select(follower => new Op(OpKind.Reconnect, follower, 0))),
        (5, Gen.Const(new Op(OpKind.WindowRead, 0, 0))));

    private static readonly Gen<History> Histories = Gen.Select(
        Gen.Int[0, 8], Gen.Int[1, 5], Gen.Int[2, 40], Gen.Select(Gen.Int[1, 8], Gen.Int[0, 1].Select(wide => wide == 0 ? 2048 : 1 << 20)), FollowerSpecs.Array[Followers], Ops.Array[1, 60],
        (tasks, pageSize, retain, window, followers, ops) => new History(5 + tasks, pageSize, retain, window, followers, ops));

    private async Task RunAsync(History history)
    {
        await using var store = await CreateStoreAsync(history.SampleTasks, history.PageSize, history.Retain, history.Window);
        var followers = history.Followers.Select(spec => new ModelFollower(store, spec)).ToArray();
        try
        {
            foreach (var follower in followers)
            {
                follower.Connect();
            }

            for (var i = 0; i < history.Ops.Length; i++)
            {
                await ApplyAsync(store, followers, history.Ops[i], i);
            }

            foreach (var follower in followers)
            {
                await follower.CatchUpAndCheckAsync();
            }
        }
        finally
        {
            foreach (var follower in followers)
            {
                await follower.DisposeAsync();
            }
        }
    }

    private static async Task ApplyAsync(ModelStore store, ModelFollower[] followers, Op op, int index)
    {
        switch (op.Kind)
        {
            case OpKind.Step:
                await followers[op.A].StepAsync(op.B);
                return;
            case OpKind.CatchUp:
                await followers[op.A].CatchUpAndCheckAsync();
                return;
            case OpKind.Reconnect:
                await followers[op.A].ReconnectAsync();
                return;
            case OpKind.WindowRead:
                await store.Window.RefreshAsync();
                return;
        }

        var ids = await store.IdsAsync();
        long Target() => ids.Count == 0 ? 1 : ids[op.B % ids.Count];
        var writer = op.A switch { < 5 => Writer.Api, < 9 => Writer.Sql, _ => Writer.CommandLine };
        // Now and then a title too wide for a page's byte budget, so pages end early on bytes.
        var title = op.B % 11 == 0 ? new string('w', 600) + index : $"t{index}";
        switch (op.Kind)
        {
            case OpKind.Create:
                await store.WriteAsync(writer, new TaskWrite.Create(title, op.B % 2 == 0));
                break;
            case OpKind.Flip:
                await store.WriteAsync(writer, new TaskWrite.Flip(Target()));
                break;
            case OpKind.Retitle:
                await store.WriteAsync(writer, new TaskWrite.Retitle(Target(), title));
                break;
            case OpKind.Delete:
                await store.WriteAsync(writer, new TaskWrite.Delete(Target()));
                break;
            case OpKind.SameValues:
                await store.WriteAsync(writer, new TaskWrite.SameValues(Target()));
                break;
            case OpKind.FlipMany:
                await store.WriteAsync(Writer.Sql, new TaskWrite.FlipMany(op.B));
                break;
            case OpKind.TwoInOneTransaction:
                await store.WriteAsync(Writer.Sql, new TaskWrite.TwoInOneTransaction(Target(), ids.Count == 0 ? 2 : ids[(op.B + 1) % ids.Count], title));
                break;
        }
    }

    public enum OpKind { Create, Flip, Retitle, Delete, SameValues, FlipMany, TwoInOneTransaction, Step, CatchUp, Reconnect, WindowRead }

    /// <summary>A: the writer (0–4 the API, 5–8 plain SQL, 9 the command line) or the follower; B: a task pick, a count or a value.</summary>
    public sealed record Op(OpKind Kind, int A, int B)
    {
        public override string ToString() => $"{Kind}({A},{B})";
    }

    public sealed record FollowerSpec(bool? Completed, int? Limit)
    {
        public override string ToString() => $"[completed={Completed?.ToString() ?? "any"} limit={Limit?.ToString() ?? "none"}]";
    }

    public sealed record History(int SampleTasks, int PageSize, int Retain, (int Rows, int Bytes) Window, FollowerSpec[] Followers, Op[] Ops)
    {
        public override string ToString() =>
            $"tasks={SampleTasks} pageSize={PageSize} retain={Retain} window={Window.Rows} rows/{Window.Bytes} bytes followers={string.Join(" ", Followers.Select(f => f.ToString()))}\n  " +
            string.Join(" ", Ops.Select(o => o.ToString()));
    }
}

public sealed class SqliteFeedModelTests(ITestOutputHelper output) : FeedModelTests(output)
{
    protected override int DefaultCases => 300;

    protected override Task<ModelStore> CreateStoreAsync(int sampleTasks, int pageSize, int retain, (int Rows, int Bytes) window) =>
        ModelStore.CreateSqliteAsync(sampleTasks, pageSize, retain, window);
}

public sealed class PostgresFeedModelTests(ITestOutputHelper output) : FeedModelTests(output), IAsyncLifetime
{
    private TestPostgres? _postgres;

    protected override int DefaultCases => 100;

    protected override Task<ModelStore> CreateStoreAsync(int sampleTasks, int pageSize, int retain, (int Rows, int Bytes) window) =>
        ModelStore.CreatePostgresAsync(_postgres!.ConnectionString, sampleTasks, pageSize, retain, window);

    public async Task InitializeAsync() => _postgres = await TestPostgres.CreateAsync();

    public async Task DisposeAsync() => await _postgres!.DisposeAsync();
}

public enum Writer { Api, Sql, CommandLine }

/// <summary>A write, as each kind of writer makes it.</summary>
public abstract record TaskWrite
{
    public sealed record Create(string Title, bool Completed) : TaskWrite;

    public sealed record Flip(long Id) : TaskWrite;

    public sealed record Retitle(long Id, string Title) : TaskWrite;

    public sealed record Delete(long Id) : TaskWrite;

    /// <summary>An UPDATE that changes nothing: no change, no event.</summary>
    public sealed record SameValues(long Id) : TaskWrite;

    /// <summary>One statement flipping every task whose id is <paramref name="Remainder"/> mod 3.</summary>
    public sealed record FlipMany(int Remainder) : TaskWrite;

    public sealed record TwoInOneTransaction(long First, long Second, string Title) : TaskWrite;
}

/// <summary>A real store of the model test's own (a SQLite file, or a PostgreSQL schema), its writers, and a silo's change window on it.</summary>
public sealed class ModelStore : IAsyncDisposable
{
    private readonly Func<DbConnection> _plainConnection;
    private readonly Func<string, Task> _commandLine;
    private readonly Func<Task> _drop;
    private readonly bool _postgres;

    private ModelStore(TaskStore database, (int Rows, int Bytes) window, bool postgres, Func<DbConnection> plainConnection, Func<string, Task> commandLine, Func<Task> drop)
    {
        (Database, _postgres, _plainConnection, _commandLine, _drop) = (database, postgres, plainConnection, commandLine, drop);
        Window = new ChangeWindow(database, window.Rows, window.Bytes);
    }

    public TaskStore Database { get; }

    /// <summary>A silo's change window on the store; it reads the store only when the test says.</summary>
    public ChangeWindow Window { get; }

    /// <summary>The store's newest change, as of the last write (what a silo's change feed would know).</summary>
    public long Head { get; private set; }

    private async Task<ModelStore> ReadHeadAsync()
    {
        await using var connection = _plainConnection();
        Head = await connection.ExecuteScalarAsync<long>("SELECT head FROM task_feed");
        return this;
    }

    public static async Task<ModelStore> CreateSqliteAsync(int sampleTasks, int pageSize, int retain, (int Rows, int Bytes) window)
    {
        var file = Path.Combine(TaskStreamServer.NewDirectory(), "tasks.db");
        var database = await StandaloneStore.OpenAsync(new DatabaseOptions { Path = file, SampleTasks = sampleTasks, PageSize = pageSize, PageBytes = 1024, RetainChanges = retain });
        return await new ModelStore(database, window, postgres: false,
            () => new SqliteConnection($"Data Source={file};Default Timeout=10"),
            sql => RunAsync("sqlite3", ["-bail", "-cmd", ".timeout 5000", file, sql], environment: []),
            () => Task.CompletedTask).ReadHeadAsync();
    }

    public static async Task<ModelStore> CreatePostgresAsync(string connectionString, int sampleTasks, int pageSize, int retain, (int Rows, int Bytes) window)
    {
        var schema = "m_" + Guid.NewGuid().ToString("N");
        await using (var admin = new NpgsqlConnection(connectionString))
        {
            await admin.ExecuteAsync($"CREATE SCHEMA {schema}");
        }

        var inSchema = new NpgsqlConnectionStringBuilder(connectionString) { SearchPath = schema }.ToString();
        var database = await StandaloneStore.OpenAsync(new DatabaseOptions
        {
            Provider = DatabaseProvider.Postgres, ConnectionString = inSchema, SampleTasks = sampleTasks, PageSize = pageSize, PageBytes = 1024, RetainChanges = retain,
        });
        var server = new NpgsqlConnectionStringBuilder(connectionString);
        // A pool of the case's own, closed with it (the global pool would keep idle connections per schema).
        var plain = NpgsqlDataSource.Create(inSchema);
        return await new ModelStore(database, window, postgres: true,
            plain.CreateConnection,
            sql => RunAsync("psql", ["-v", "ON_ERROR_STOP=1", "-q", "-h", server.Host!, "-p", server.Port.ToString(), "-U", server.Username!, "-d", server.Database!, "-c", sql],
                [("PGPASSWORD", server.Password!), ("PGOPTIONS", $"-c search_path={schema}")]),
            async () =>
            {
                await plain.DisposeAsync();
                await using var admin = new NpgsqlConnection(connectionString);
                await admin.ExecuteAsync($"DROP SCHEMA {schema} CASCADE");
            }).ReadHeadAsync();
    }

    /// <summary>Every task as the store has it now, with its latest change's sequence number.</summary>
    public async Task<List<(TaskItem Task, long Seq)>> TasksAsync()
    {
        await using var connection = _plainConnection();
        await connection.OpenAsync();
        await using var reader = await connection.ExecuteReaderAsync("SELECT id, title, description, completed, seq FROM tasks ORDER BY id");
        var tasks = new List<(TaskItem, long)>();
        while (await reader.ReadAsync())
        {
            tasks.Add((new TaskItem(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3)), reader.GetInt64(4)));
        }

        return tasks;
    }

    public async Task<List<long>> IdsAsync() => (await TasksAsync()).Select(t => t.Task.Id).ToList();

    public async Task WriteAsync(Writer writer, TaskWrite write)
    {
        switch (writer)
        {
            case Writer.Api:
                await WriteThroughApiAsync(write);
                break;
            case Writer.Sql:
                await using (var connection = _plainConnection())
                {
                    await connection.OpenAsync();
                    await using var transaction = await connection.BeginTransactionAsync();
                    foreach (var statement in Sql(write))
                    {
                        await connection.ExecuteAsync(statement, transaction: transaction);
                    }

                    await transaction.CommitAsync();
                }

                break;
            case Writer.CommandLine:
                await _commandLine("BEGIN; " + string.Join(" ", Sql(write).Select(s => s + ";")) + " COMMIT;");
                break;
        }

        await ReadHeadAsync();
        if (writer == Writer.Api)
        {
            Window.Heard(Head); // as the writing silo's own write tells its window
        }
    }

    private async Task WriteThroughApiAsync(TaskWrite write)
    {
        switch (write)
        {
            case TaskWrite.Create create:
                await Database.WriteAsync(new Grains.TaskWrite.Create(new NewTask(create.Title, "", create.Completed)));
                break;
            case TaskWrite.Flip flip:
                var current = (await TasksAsync()).FirstOrDefault(t => t.Task.Id == flip.Id).Task;
                await Database.WriteAsync(new Grains.TaskWrite.Update(flip.Id, new TaskPatch(Completed: !(current?.Completed ?? false))));
                break;
            case TaskWrite.Retitle retitle:
                await Database.WriteAsync(new Grains.TaskWrite.Update(retitle.Id, new TaskPatch(Title: retitle.Title)));
                break;
            case TaskWrite.Delete delete:
                await Database.WriteAsync(new Grains.TaskWrite.Delete(delete.Id));
                break;
            case TaskWrite.SameValues same:
                var task = (await TasksAsync()).FirstOrDefault(t => t.Task.Id == same.Id).Task;
                await Database.WriteAsync(new Grains.TaskWrite.Update(same.Id, new TaskPatch(task?.Title, task?.Description, task?.Completed)));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(write), write, "Not a write the API makes.");
        }
    }

    // Plain SQL, as another program would write it: values inlined (they are the test's own, quote-free).
    private IEnumerable<string> Sql(TaskWrite write)
    {
        var notCompleted = _postgres ? "NOT completed" : "1 - completed";
        return write switch
        {
            TaskWrite.Create c => [$"INSERT INTO tasks (title, description, completed) VALUES ('{c.Title}', '', {(c.Completed ? "TRUE" : "FALSE")})"],
            TaskWrite.Flip f => [$"UPDATE tasks SET completed = {notCompleted} WHERE id = {f.Id}"],
            TaskWrite.Retitle r => [$"UPDATE tasks SET title = '{r.Title}' WHERE id = {r.Id}"],
            TaskWrite.Delete d => [$"DELETE FROM tasks WHERE id = {d.Id}"],
            TaskWrite.SameValues s => [$"UPDATE tasks SET title = title, completed = completed WHERE id = {s.Id}"],
            TaskWrite.FlipMany m => [$"UPDATE tasks SET completed = {notCompleted} WHERE id % 3 = {m.Remainder}"],
            TaskWrite.TwoInOneTransaction two =>
            [
                $"UPDATE tasks SET completed = {notCompleted} WHERE id = {two.First}",
                $"UPDATE tasks SET title = '{two.Title}' WHERE id = {two.Second}",
            ],
            _ => throw new ArgumentOutOfRangeException(nameof(write)),
        };
    }

    private static async Task RunAsync(string program, string[] arguments, (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{program} failed: {await error}");
    }

    public async ValueTask DisposeAsync()
    {
        await Database.DisposeAsync();
        await _drop();
    }
}

/// <summary>
/// A follow query stepped by the test, and the view a client builds from its events. It follows through the
/// store's change window, whose waits the test steps: the query waits only when the test says, and tells the
/// test when it waits (it has caught up with what the window has read).
/// </summary>
public sealed class ModelFollower(ModelStore store, FeedModelTests.FollowerSpec spec) : IAsyncDisposable
{
    private readonly Dictionary<long, TaskItem> _view = [];
    private readonly HashSet<long> _fromSnapshot = [];
    private readonly SteppedSignal _signal = new(store.Window);
    private IAsyncEnumerator<TaskQueryEvent>? _events;
    private CancellationTokenSource _connection = new();
    private Task<bool>? _pending;
    private long? _lastEventId;
    private long _lastIdOnConnection;
    private bool _inSnapshot;
    private long _deliveredAfter; // every change after this position has been delivered
    private bool _live;

    public void Connect()
    {
        var query = new TaskQuery(spec.Completed, spec.Limit, ResumeAfter: _lastEventId, Follow: true);
        if (_lastEventId is null)
        {
            // A first connect: a snapshot, into an empty view.
            (_inSnapshot, _live) = (true, false);
            _view.Clear();
            _fromSnapshot.Clear();
        }
        else if (_inSnapshot)
        {
            // Resuming mid-snapshot: unless told to reset, the rest comes from the log, after the last task it got.
            (_inSnapshot, _deliveredAfter) = (false, _lastEventId.Value);
        }

        _lastIdOnConnection = 0;
        _events = store.Database.FollowAsync(query, "model", _signal, _connection.Token).GetAsyncEnumerator(_connection.Token);
    }

    public async Task ReconnectAsync()
    {
        await DisconnectAsync();
        Connect();
    }

    /// <summary>Takes up to <paramref name="count"/> events, as far as the query has them without waiting.</summary>
    public async Task StepAsync(int count)
    {
        for (var i = 0; i < count && await NextAsync() is { } next; i++)
        {
            Apply(next);
        }
    }

    /// <summary>Has the window read the store, takes every event the query has until it waits, then checks the view against the store.</summary>
    public async Task CatchUpAndCheckAsync()
    {
        await store.Window.RefreshAsync();
        while (await NextAsync() is { } next)
        {
            Apply(next);
        }

        Assert.True(_live, $"{spec} waits for changes without having said `live`");
        var matching = (await store.TasksAsync()).Where(t => spec.Completed is null || t.Task.Completed == spec.Completed).ToList();
        var expected = matching.Where(t => _fromSnapshot.Contains(t.Task.Id) || t.Seq > _deliveredAfter).Select(t => t.Task).ToList();
        Assert.Equal(expected, _view.Values.OrderBy(t => t.Id));
        if (spec.Limit is null)
        {
            Assert.Equal(matching.Select(t => t.Task), expected);
        }
    }

    private void Apply(TaskQueryEvent next)
    {
        switch (next)
        {
            case FollowReset:
                // First on a resumed connection, or later on one that fell behind the log's horizon: ids start over.
                (_inSnapshot, _live, _lastIdOnConnection) = (true, false, 0);
                _view.Clear();
                _fromSnapshot.Clear();
                break;
            case TaskChanged changed:
                See(changed.Seq, strictly: true);
                _view[changed.Task.Id] = changed.Task;
                if (_inSnapshot)
                {
                    _fromSnapshot.Add(changed.Task.Id);
                }

                break;
            case TaskDeleted deleted:
                See(deleted.Seq, strictly: true);
                _view.Remove(deleted.Id);
                break;
            case FollowingLive live:
                See(live.Seq, strictly: false);
                if (_inSnapshot)
                {
                    (_inSnapshot, _deliveredAfter) = (false, live.Seq);
                }

                _live = true;
                break;
            default:
                Assert.Fail($"A follow query sent {next}");
                break;
        }
    }

    private void See(long id, bool strictly)
    {
        Assert.True(strictly ? id > _lastIdOnConnection : id >= _lastIdOnConnection,
            $"{spec}: event id {id} after {_lastIdOnConnection} on the same connection");
        (_lastIdOnConnection, _lastEventId) = (id, id);
    }

    // The next event, or null when the query waits for a change (it has caught up with the store).
    private async Task<TaskQueryEvent?> NextAsync()
    {
        if (_pending is null)
        {
            _pending = _events!.MoveNextAsync().AsTask();
        }
        else if (!_signal.ReleaseIfChanged())
        {
            return null; // it waits, and nothing changed since
        }

        var waits = _signal.Entered;
        if (await Task.WhenAny(_pending, waits) != _pending)
        {
            return null;
        }

        Assert.True(await _pending, "A follow query ended");
        _pending = null;
        return _events!.Current;
    }

    private async Task DisconnectAsync()
    {
        await _connection.CancelAsync();
        if (_pending is not null)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _pending);
            _pending = null;
        }

        await _events!.DisposeAsync();
        _connection.Dispose();
        _connection = new CancellationTokenSource();
        _signal.Reset();
    }

    public async ValueTask DisposeAsync()
    {
        if (_events is not null)
        {
            await DisconnectAsync();
        }
    }

    /// <summary>
    /// A silo's change window, except that a wait the window would not end at once lasts until the test releases
    /// it (once the window would have ended it), and tells the test it began.
    /// </summary>
    private sealed class SteppedSignal(ChangeWindow window) : IChangeSignal
    {
        private readonly Lock _gate = new();
        private TaskCompletionSource _entered = New();
        private TaskCompletionSource? _release;
        private long _waitingAt;

        public Task Entered
        {
            get
            {
                lock (_gate)
                {
                    return _entered.Task;
                }
            }
        }

        public ValueTask WaitForChangeAfterAsync(long seq, CancellationToken cancellationToken)
        {
            TaskCompletionSource release;
            lock (_gate)
            {
                if (window.HasChangeAfter(seq))
                {
                    return ValueTask.CompletedTask;
                }

                (release, _release, _waitingAt) = (New(), null, seq);
                _release = release;
                _entered.TrySetResult();
            }

            return new ValueTask(release.Task.WaitAsync(cancellationToken));
        }

        public void Observe(long head) => window.Observe(head);

        public bool TryTake(long after, List<ChangeRow> rows, int max) => window.TryTake(after, rows, max);

        /// <summary>Ends the wait if the window has moved on since it began; false if not (the query is caught up).</summary>
        public bool ReleaseIfChanged()
        {
            TaskCompletionSource? release;
            lock (_gate)
            {
                if (_release is null || !window.HasChangeAfter(_waitingAt))
                {
                    return false;
                }

                (release, _release, _entered) = (_release, null, New());
            }

            release.TrySetResult();
            return true;
        }

        public void Reset()
        {
            lock (_gate)
            {
                (_release, _entered) = (null, New());
            }
        }

        private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
