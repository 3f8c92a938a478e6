using System.Data;
using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace TaskStream.Grains.Data;

/// <summary>
/// The task store (SQLite or PostgreSQL), and the only code that reads or writes it: one per silo. It owns the
/// connection factory, the page size and the page budget. Every read takes a connection of its own (one per page,
/// lent by <see cref="ReadConnections"/>) and gives it back before the page's rows are handed out, so no connection
/// is shared between queries or held while a client is slow; writes run in the store's write transaction. SQL and row mapping are in <see cref="TaskRows"/>,
/// schema, seed and upgrade SQL in <see cref="TaskSchema"/>.
/// </summary>
public sealed partial class TaskStore : IAsyncDisposable
{
    private readonly DatabaseOptions _options;
    private readonly ILogger<TaskStore> _logger;
    private readonly Func<DbConnection> _newConnection;
    private readonly string _connectionString;
    private readonly NpgsqlDataSource? _postgres;
    private readonly TaskSchema _schema;
    private readonly IdempotencyKeys _keys;
    private readonly StateChangeEventHandler _countConnections;
    private readonly TaskStreamMetrics _metrics;
    private readonly ReadConnections _reads;

    public TaskStore(IOptions<DatabaseOptions> options, IOptions<IdempotencyOptions> idempotency, TaskStreamMetrics metrics, ILogger<TaskStore> logger)
    {
        _options = options.Value;
        _keys = new IdempotencyKeys(idempotency.Value);
        _countConnections = metrics.OnConnectionStateChange; // one delegate, not one per connection
        _metrics = metrics;
        _logger = logger;
        Provider = _options.Provider == DatabaseProvider.Postgres ? "postgres" : "sqlite";
        if (_options.Provider == DatabaseProvider.Postgres)
        {
            _connectionString = _options.ConnectionString!; // required then (DatabaseOptions.Validate)
            _postgres = NpgsqlDataSource.Create(_connectionString);
            _newConnection = _postgres.CreateConnection;
            _schema = TaskSchema.Postgres;
        }
        else
        {
            var connectionString = _connectionString = new SqliteConnectionStringBuilder
            {
                DataSource = _options.Path,
                // The pool keeps physical handles for reuse; each query still gets its own connection object,
                // opened and closed by that query only, and a handle serves one connection at a time.
                Pooling = true,
                // How long a statement waits for another writer's lock (SQLite's busy timeout), in seconds.
                DefaultTimeout = _options.WriteTimeoutSeconds,
            }.ToString();
            _newConnection = () => new SqliteConnection(connectionString);
            _schema = TaskSchema.Sqlite;
        }

        // SQLite keeps a few connections open with their statements prepared (at most as many as read at once, and
        // reads never wait for I/O with SQLite, so a few); PostgreSQL's come from Npgsql's pool.
        _reads = new ReadConnections(_newConnection, keep: _postgres is null, maxIdle: 4 * Environment.ProcessorCount, metrics);
    }

    /// <summary><c>sqlite</c> or <c>postgres</c>, as status and logs name it.</summary>
    public string Provider { get; }

    /// <summary>How long after its request a write may still commit (<c>WriteTimeoutSeconds</c>).</summary>
    public TimeSpan WriteTimeout => TimeSpan.FromSeconds(_options.WriteTimeoutSeconds);

    // SQLite: BEGIN IMMEDIATE (what Serializable means to it) takes the database's write lock at once, so the
    // transaction never has to upgrade a read lock. PostgreSQL: Read Committed; the feed row's lock orders writers.
    private IsolationLevel WriteIsolation => _postgres is null ? IsolationLevel.Serializable : IsolationLevel.ReadCommitted;

    /// <summary>
    /// A new connection for a write (or a test), counted in the metrics; whoever opens it closes it, and no one else
    /// uses it. Reads take theirs from <see cref="ReadConnections"/>.
    /// </summary>
    internal async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
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

    /// <summary>A connection of the change feed's own (not counted as a query's) that waits for commits to the store.</summary>
    internal Task<StoreWatch> OpenWatchAsync(CancellationToken cancellationToken) => _postgres is null
        ? StoreWatch.OpenSqliteAsync(_connectionString, cancellationToken)
        : StoreWatch.OpenPostgresAsync(_connectionString, cancellationToken);

    /// <summary>True when the store answers a trivial query.</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        await using var read = await _reads.OpenAsync(cancellationToken);
        return Convert.ToInt64(await read.Command(TaskRows.PingSql).ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) == 1;
    }

    // The newest change's sequence number and the oldest position the change log can resume from.
    private static async Task<FeedPosition> ReadFeedAsync(ReadConnection read, CancellationToken cancellationToken)
    {
        await using var reader = await read.Command(TaskRows.FeedSql).ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken)
            ? new FeedPosition(reader.GetInt64(0), reader.GetInt64(1))
            : throw new InvalidOperationException("The store has no change-log position (task_feed is empty).");
    }

    /// <summary>
    /// Runs <paramref name="write"/> in a transaction. Its statements are plain SQL on <c>tasks</c>, as any other
    /// writer's; the store's triggers number and log the changes. Waiting for the write lock is bounded by
    /// <see cref="WriteTimeout"/>, and the commit is skipped once <paramref name="cancellationToken"/> is cancelled
    /// (the write's deadline), so a write that could not run in time fails instead of committing late.
    /// </summary>
    private async Task<T> InWriteTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> write, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(WriteIsolation, cancellationToken);
        if (_postgres is not null)
        {
            // SET takes no parameters; the value is a validated whole number.
            var timeout = _options.WriteTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // Then the feed row's lock, which the triggers would take at the first change anyway: taken first, it
            // orders whole transactions, so what a write reads before it changes anything (an idempotency key) is current.
            await connection.ExecuteAsync(
                $"SET LOCAL lock_timeout = '{timeout}s'; SET LOCAL statement_timeout = '{timeout}s'; SELECT 1 FROM task_feed FOR NO KEY UPDATE",
                transaction: transaction);
        }

        var result = await write(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>True when <paramref name="exception"/> says the store was too busy for a write in time: nothing was written.</summary>
    public static bool IsBusy(Exception exception) => exception switch
    {
        OperationCanceledException => true,
        SqliteException { SqliteErrorCode: 5 or 6 } => true, // SQLITE_BUSY, SQLITE_LOCKED
        PostgresException { SqlState: PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.QueryCanceled } => true,
        _ => false,
    };

    public async ValueTask DisposeAsync()
    {
        await _reads.DisposeAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}
