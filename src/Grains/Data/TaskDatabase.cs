using System.Data;
using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace TaskStream.Grains.Data;

/// <summary>
/// Opens connections to the task store (SQLite or PostgreSQL) and creates it on first start. It hands out
/// a new connection per call and keeps none itself. Both stores share one schema shape and the one query
/// builder, <see cref="TaskStore"/>.
/// </summary>
public sealed partial class TaskDatabase : IAsyncDisposable
{
    private readonly DatabaseOptions _options;
    private readonly ILogger<TaskDatabase> _logger;
    private readonly Func<DbConnection> _newConnection;
    private readonly NpgsqlDataSource? _postgres;
    private readonly Schema _schema;
    private readonly StateChangeEventHandler _countConnections;

    public TaskDatabase(IOptions<DatabaseOptions> options, TaskStreamMetrics metrics, ILogger<TaskDatabase> logger)
    {
        _options = options.Value;
        _countConnections = metrics.OnConnectionStateChange; // one delegate, not one per connection
        _logger = logger;
        if (_options.Provider == "postgres")
        {
            if (string.IsNullOrWhiteSpace(_options.ConnectionString))
            {
                throw new OptionsValidationException(DatabaseOptions.Section, typeof(DatabaseOptions),
                    ["TaskStream:Database:ConnectionString is required when TaskStream:Database:Provider is 'postgres'."]);
            }

            _postgres = NpgsqlDataSource.Create(_options.ConnectionString);
            _newConnection = _postgres.CreateConnection;
            _schema = Schema.Postgres;
        }
        else
        {
            var connectionString = new SqliteConnectionStringBuilder
            {
                DataSource = _options.Path,
                // The pool keeps physical handles for reuse; each query still gets its own connection object,
                // opened and closed by that query only, and a handle serves one connection at a time.
                Pooling = true,
            }.ToString();
            _newConnection = () => new SqliteConnection(connectionString);
            _schema = Schema.Sqlite;
        }
    }

    public int PageSize => _options.PageSize;

    // SQLite: BEGIN IMMEDIATE (what Serializable means to it) takes the database's write lock. PostgreSQL: an
    // advisory lock held until commit, under Read Committed so that each statement after the lock sees what the
    // previous holder committed (a Serializable snapshot would be taken before the lock was granted).
    private IsolationLevel LockingIsolation => _postgres is null ? IsolationLevel.Serializable : IsolationLevel.ReadCommitted;

    public string Provider => _options.Provider;

    public async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var connection = _newConnection();
        connection.StateChange += _countConnections;
        try
        {
            await connection.OpenAsync(cancellationToken);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        return connection;
    }

    /// <summary>True when the store answers a trivial query.</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT 1", cancellationToken: cancellationToken)) == 1;
    }

    // The seed's five tasks; TRUE/FALSE are 1/0 to SQLite and booleans to PostgreSQL. The initial tasks'
    // change sequence numbers are their ids; writes continue from the highest.
    private const string SeedSql = """
        INSERT INTO tasks (id, title, description, completed, seq) VALUES
            (1, 'Implement SSE streaming', 'Add server-sent events to API', FALSE, 1),
            (2, 'Database integration', 'Connect SQLAlchemy with SSE', TRUE, 2),
            (3, 'Add filtering', 'Support query parameters in streams', FALSE, 3),
            (4, 'Write documentation', 'Document best practices', TRUE, 4),
            (5, 'Performance testing', 'Test with large datasets', FALSE, 5);
        """;

    // Tasks 6..N: deterministic text, every third one completed. Both stores run this as written.
    private const string GenerateSql = """
        WITH RECURSIVE n(id) AS (SELECT 6 UNION ALL SELECT id + 1 FROM n WHERE id < @Count)
        INSERT INTO tasks (id, title, description, completed, seq)
        SELECT id, 'Task ' || id, 'Generated sample task number ' || id, (id % 3 = 0), id FROM n;
        """;

    /// <summary>
    /// Creates the schema and sample tasks if the store has no tasks table, and adds the change columns to a
    /// tasks table created before writes existed; an existing store's tasks are never changed. Creation and
    /// upgrade are one transaction each, taken under a lock, so silos starting together do it once and a crash
    /// mid-way leaves nothing half-done.
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        if (_postgres is null)
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(_options.Path));
            if (directory is not null)
            {
                Directory.CreateDirectory(directory);
            }
        }

        await using var connection = await OpenConnectionAsync(cancellationToken);
        if (_schema.PrepareSql is { } prepare)
        {
            await connection.ExecuteAsync(prepare);
        }

        if (await IsCurrentAsync(connection, transaction: null))
        {
            return;
        }

        await using var transaction = await connection.BeginTransactionAsync(LockingIsolation, cancellationToken);
        if (_schema.LockSql is { } lockSql)
        {
            await connection.ExecuteAsync(lockSql, transaction: transaction);
        }

        if (await IsCurrentAsync(connection, transaction))
        {
            return; // another silo created or upgraded it first
        }

        var database = _postgres is null ? _options.Path : connection.Database;
        if (await connection.ExecuteScalarAsync<bool>(_schema.TableExistsSql, transaction: transaction))
        {
            // Created before writes existed: add the change columns; each task's first sequence number is its id.
            await connection.ExecuteAsync(_schema.UpgradeSql, transaction: transaction, commandTimeout: 600);
            await transaction.CommitAsync(cancellationToken);
            LogUpgraded(_logger, Provider, database);
            return;
        }

        await connection.ExecuteAsync(_schema.CreateSql + SeedSql, transaction: transaction);
        var count = _options.SampleTasks;
        if (count > 5)
        {
            await connection.ExecuteAsync(GenerateSql, new { Count = count }, transaction, commandTimeout: 600);
        }

        await transaction.CommitAsync(cancellationToken);
        LogCreated(_logger, Provider, database, Math.Max(count, 5));
    }

    private async Task<bool> IsCurrentAsync(DbConnection connection, DbTransaction? transaction) =>
        await connection.ExecuteScalarAsync<bool>(_schema.TableExistsSql, transaction: transaction)
        && await connection.ExecuteScalarAsync<bool>(_schema.HasChangeColumnsSql, transaction: transaction);

    /// <summary>
    /// Runs <paramref name="write"/> in a transaction that holds the store's write lock, so writes from all
    /// silos are serialised: each takes the next change sequence number and commits before the next one
    /// starts, and a follower reading "changes after S" can never see S+2 committed before S+1.
    /// </summary>
    public async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> write, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(LockingIsolation, cancellationToken);
        if (_schema.WriteLockSql is { } lockSql)
        {
            await connection.ExecuteAsync(lockSql, transaction: transaction);
        }

        var result = await write(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    /// <summary>What differs between the stores: column types, and how to see and lock the schema.</summary>
    /// <remarks>
    /// A task row carries its latest change: <c>seq</c> is the sequence number of the last write to it, and a
    /// deleted task stays as a tombstone (<c>deleted</c>, text blanked) so followers learn of the deletion.
    /// <c>completed_seq</c> is the write that last flipped <c>completed</c> (0: never, since its creation);
    /// it tells a follow stream whether a task that no longer matches its filter may have matched before.
    /// </remarks>
    private sealed record Schema(string CreateSql, string UpgradeSql, string TableExistsSql, string HasChangeColumnsSql,
        string? PrepareSql, string? LockSql, string? WriteLockSql)
    {
        // SQLite: WAL lets readers run beside a writer (stored in the file); BEGIN IMMEDIATE (Serializable)
        // already holds the write lock.
        public static readonly Schema Sqlite = new(
            """
            CREATE TABLE tasks (
                id            INTEGER PRIMARY KEY,
                title         TEXT    NOT NULL,
                description   TEXT    NOT NULL,
                completed     INTEGER NOT NULL CHECK (completed IN (0, 1)),
                deleted       INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
                seq           INTEGER NOT NULL,
                completed_seq INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX ix_tasks_completed_id ON tasks (completed, id);
            CREATE UNIQUE INDEX ix_tasks_seq ON tasks (seq);
            """,
            """
            ALTER TABLE tasks ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1));
            ALTER TABLE tasks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE tasks ADD COLUMN completed_seq INTEGER NOT NULL DEFAULT 0;
            UPDATE tasks SET seq = id;
            CREATE UNIQUE INDEX ix_tasks_seq ON tasks (seq);
            """,
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'tasks'",
            "SELECT COUNT(*) > 0 FROM pragma_table_info('tasks') WHERE name = 'seq'",
            PrepareSql: "PRAGMA journal_mode=WAL;",
            LockSql: null,
            WriteLockSql: null);

        public static readonly Schema Postgres = new(
            """
            CREATE TABLE tasks (
                id            BIGINT  PRIMARY KEY,
                title         TEXT    NOT NULL,
                description   TEXT    NOT NULL,
                completed     BOOLEAN NOT NULL,
                deleted       BOOLEAN NOT NULL DEFAULT FALSE,
                seq           BIGINT  NOT NULL,
                completed_seq BIGINT  NOT NULL DEFAULT 0
            );
            CREATE INDEX ix_tasks_completed_id ON tasks (completed, id);
            CREATE UNIQUE INDEX ix_tasks_seq ON tasks (seq);
            """,
            """
            ALTER TABLE tasks ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT FALSE,
                              ADD COLUMN seq BIGINT NOT NULL DEFAULT 0,
                              ADD COLUMN completed_seq BIGINT NOT NULL DEFAULT 0;
            UPDATE tasks SET seq = id;
            CREATE UNIQUE INDEX ix_tasks_seq ON tasks (seq);
            """,
            // A scan of the catalog under the statement's snapshot: to_regclass() answers from this session's
            // cache, which can still say "no such table" after another silo created it and released the lock.
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'tasks')",
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'tasks' AND column_name = 'seq' AND table_schema = current_schema())",
            PrepareSql: null,
            LockSql: "SELECT pg_advisory_xact_lock(7271021)",
            WriteLockSql: "SELECT pg_advisory_xact_lock(7271022)");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Upgraded {Provider} task database {Database}: added change sequence numbers")]
    private static partial void LogUpgraded(ILogger logger, string provider, string? database);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created {Provider} task database {Database} with {Count} tasks")]
    private static partial void LogCreated(ILogger logger, string provider, string? database, int count);
}
