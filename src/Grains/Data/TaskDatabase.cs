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
    private readonly string _connectionString;
    private readonly NpgsqlDataSource? _postgres;
    private readonly TaskSchema _schema;
    private readonly StateChangeEventHandler _countConnections;

    public TaskDatabase(IOptions<DatabaseOptions> options, TaskStreamMetrics metrics, ILogger<TaskDatabase> logger)
    {
        _options = options.Value;
        _countConnections = metrics.OnConnectionStateChange; // one delegate, not one per connection
        _logger = logger;
        if (_options.Provider == "postgres")
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
    }

    public int PageSize => _options.PageSize;

    /// <summary>The most text a page holds before it ends early (rows are never split).</summary>
    public int PageBytes => _options.PageBytes;

    /// <summary>How many changes the change log keeps.</summary>
    public long RetainChanges => _options.RetainChanges;

    // SQLite: BEGIN IMMEDIATE (what Serializable means to it) takes the database's write lock at once, so the
    // transaction never has to upgrade a read lock. PostgreSQL: Read Committed; the feed row's lock orders writers.
    private IsolationLevel WriteIsolation => _postgres is null ? IsolationLevel.Serializable : IsolationLevel.ReadCommitted;

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

    /// <summary>A connection of the change feed's own (not counted as a query's) that waits for commits to the store.</summary>
    public Task<StoreWatch> OpenWatchAsync(CancellationToken cancellationToken) => _postgres is null
        ? StoreWatch.OpenSqliteAsync(_connectionString, cancellationToken)
        : StoreWatch.OpenPostgresAsync(_connectionString, cancellationToken);

    /// <summary>True when the store answers a trivial query.</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT 1", cancellationToken: cancellationToken)) == 1;
    }

    /// <summary>How long after its request a write may still commit (<c>WriteTimeoutSeconds</c>).</summary>
    public TimeSpan WriteTimeout => TimeSpan.FromSeconds(_options.WriteTimeoutSeconds);

    /// <summary>
    /// Runs <paramref name="write"/> in a transaction. Its statements are plain SQL on <c>tasks</c>, as any other
    /// writer's; the store's triggers number and log the changes. Waiting for the write lock is bounded by
    /// <see cref="WriteTimeout"/>, and the commit is skipped once <paramref name="cancellationToken"/> is cancelled
    /// (the write's deadline), so a write that could not run in time fails instead of committing late.
    /// </summary>
    public async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, Task<T>> write, CancellationToken cancellationToken = default)
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

    /// <summary>The newest change's sequence number and the oldest position the change log can resume from.</summary>
    public async Task<FeedPosition> ReadFeedAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await connection.QuerySingleAsync<FeedPosition>(new CommandDefinition(FeedSql, cancellationToken: cancellationToken));

    private const string FeedSql = "SELECT head AS Head, horizon AS Horizon FROM task_feed";

    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}
