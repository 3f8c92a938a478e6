using System.Data;
using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TaskStream.Grains.Data;

/// <summary>
/// Opens connections to the task store and creates it on first start. It hands out a new connection
/// per call and keeps none itself.
/// </summary>
public sealed partial class TaskDatabase(IOptions<DatabaseOptions> options, TaskStreamMetrics metrics, ILogger<TaskDatabase> logger)
{
    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = options.Value.Path,
        // The pool keeps physical handles for reuse; each query still gets its own connection object,
        // opened and closed by that query only, and a handle serves one connection at a time.
        Pooling = true,
    }.ToString();

    public int PageSize => options.Value.PageSize;

    public string Provider => "sqlite";

    public async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_connectionString);
        connection.StateChange += metrics.OnConnectionStateChange;
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

    private const string TableExistsSql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'tasks'";

    private const string CreateSchemaSql = """
        CREATE TABLE tasks (
            id          INTEGER PRIMARY KEY,
            title       TEXT    NOT NULL,
            description TEXT    NOT NULL,
            completed   INTEGER NOT NULL CHECK (completed IN (0, 1))
        );
        CREATE INDEX ix_tasks_completed_id ON tasks (completed, id);
        INSERT INTO tasks (id, title, description, completed) VALUES
            (1, 'Implement SSE streaming', 'Add server-sent events to API', 0),
            (2, 'Database integration', 'Connect SQLAlchemy with SSE', 1),
            (3, 'Add filtering', 'Support query parameters in streams', 0),
            (4, 'Write documentation', 'Document best practices', 1),
            (5, 'Performance testing', 'Test with large datasets', 0);
        """;

    // Tasks 6..N: deterministic text, every third one completed.
    private const string GenerateSql = """
        WITH RECURSIVE n(id) AS (SELECT 6 UNION ALL SELECT id + 1 FROM n WHERE id < @Count)
        INSERT INTO tasks (id, title, description, completed)
        SELECT id, 'Task ' || id, 'Generated sample task number ' || id, CASE WHEN id % 3 = 0 THEN 1 ELSE 0 END FROM n;
        """;

    /// <summary>
    /// Creates the schema and sample tasks if the database has no tasks table. An existing database is
    /// never changed. Creation is one transaction, so a crash mid-way leaves no half-seeded file.
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(options.Value.Path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        await using var connection = await OpenConnectionAsync(cancellationToken);
        // WAL lets readers run beside a writer; the setting is stored in the file.
        await connection.ExecuteAsync("PRAGMA journal_mode=WAL;");
        if (await connection.ExecuteScalarAsync<long>(TableExistsSql) > 0)
        {
            return;
        }

        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.Serializable, cancellationToken);
        if (await connection.ExecuteScalarAsync<long>(TableExistsSql, transaction: transaction) > 0)
        {
            return; // another silo sharing the file created it first
        }

        await connection.ExecuteAsync(CreateSchemaSql, transaction: transaction);
        var count = options.Value.SampleTasks;
        if (count > 5)
        {
            await connection.ExecuteAsync(GenerateSql, new { Count = count }, transaction);
        }

        await transaction.CommitAsync(cancellationToken);
        LogCreated(logger, options.Value.Path, Math.Max(count, 5));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created task database {Path} with {Count} tasks")]
    private static partial void LogCreated(ILogger logger, string path, int count);
}
