using System.Data.Common;
using Dapper;
using Microsoft.Extensions.Logging;

namespace TaskStream.Grains.Data;

// Creating the store, or bringing one made by an earlier TaskStream up to date, at start (SQL in TaskSchema).
public sealed partial class TaskStore
{
    /// <summary>
    /// Creates the schema, the change log and sample tasks if the store has no tasks table, and upgrades a store
    /// made by an earlier TaskStream (with or without change columns) in place; an existing store's tasks are
    /// never changed. Creation and upgrade are one transaction each, taken under a lock, so silos starting
    /// together do it once and a crash mid-way leaves nothing half-done. Then applies this silo's retention, and
    /// creates the idempotency keys' table if it is missing (under the write lock too).
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await CreateUpgradeAndRetainAsync(cancellationToken);
            await InWriteTransactionAsync((connection, transaction) =>
                connection.ExecuteAsync(IdempotencyKeys.CreateSql, transaction: transaction), cancellationToken);
            _initialized.TrySetResult();
        }
        catch (Exception exception)
        {
            _initialized.TrySetException(exception);
            throw;
        }
    }

    private readonly TaskCompletionSource _initialized = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once <see cref="InitializeAsync"/> has made the store current.</summary>
    public Task Initialized => _initialized.Task;

    private async Task CreateUpgradeAndRetainAsync(CancellationToken cancellationToken)
    {
        if (_postgres is null)
        {
            // The file is created, its folder is not: a mistyped folder would otherwise start an empty store.
            var directory = Path.GetDirectoryName(Path.GetFullPath(_options.Path));
            if (directory is not null && !Directory.Exists(directory))
            {
                throw new DirectoryNotFoundException(
                    $"{DatabaseOptions.Section}:{nameof(DatabaseOptions.Path)} = '{_options.Path}': the folder {directory} does not exist; create it or name an existing one.");
            }
        }

        await using var connection = await OpenConnectionAsync(cancellationToken);
        if (_schema.PrepareSql is { } prepare)
        {
            await connection.ExecuteAsync(prepare);
        }

        await using var transaction = await connection.BeginTransactionAsync(WriteIsolation, cancellationToken);
        if (_schema.InitLockSql is { } lockSql)
        {
            await connection.ExecuteAsync(lockSql, transaction: transaction);
        }

        var retain = new { Retain = _options.RetainChanges };
        if (!await ExistsAsync(_schema.TableExistsSql, "task_feed"))
        {
            await CreateOrUpgradeAsync(connection, transaction);
        }

        await connection.ExecuteAsync(TaskSchema.RetainSql, retain, transaction);
        await transaction.CommitAsync(cancellationToken);

        Task<bool> ExistsAsync(string sql, string name) =>
            connection.ExecuteScalarAsync<bool>(sql, new { Name = name }, transaction);
    }

    private async Task CreateOrUpgradeAsync(DbConnection connection, DbTransaction transaction)
    {
        var database = _postgres is null ? _options.Path : connection.Database;
        var retain = _options.RetainChanges;
        if (await connection.ExecuteScalarAsync<bool>(_schema.TableExistsSql, new { Name = "tasks" }, transaction))
        {
            // Made before the change log. Its history is unknown, so the log starts empty at its newest change and
            // a follower resuming from before that gets a fresh snapshot. Ids of deleted tasks are never reused.
            var hasSeq = await connection.ExecuteScalarAsync<bool>(_schema.ColumnExistsSql, new { Name = "seq" }, transaction);
            var hasTombstones = await connection.ExecuteScalarAsync<bool>(_schema.ColumnExistsSql, new { Name = "deleted" }, transaction);
            var (maxId, head) = await connection.QuerySingleAsync<(long, long)>(
                hasSeq ? "SELECT COALESCE(MAX(id), 0), COALESCE(MAX(seq), 0) FROM tasks" : "SELECT COALESCE(MAX(id), 0), COALESCE(MAX(id), 0) FROM tasks",
                transaction: transaction);
            await connection.ExecuteAsync(hasTombstones ? _schema.UpgradeFromV2Sql : _schema.UpgradeFromV1Sql, transaction: transaction, commandTimeout: 600);
            await connection.ExecuteAsync(_schema.FeedSql, transaction: transaction);
            await connection.ExecuteAsync(_schema.StartIdsSql, new { MaxId = maxId }, transaction);
            await connection.ExecuteAsync(TaskSchema.UpgradedFeedSql, new { Head = head, Retain = retain }, transaction);
            LogUpgraded(_logger, Provider, database, head);
            return;
        }

        // The seed goes in before the triggers exist; its log is written in one statement after it.
        var count = Math.Max(_options.SampleTasks, 5);
        await connection.ExecuteAsync(_schema.CreateTasksSql + TaskSchema.SeedSql, transaction: transaction);
        if (count > 5)
        {
            await connection.ExecuteAsync(TaskSchema.GenerateSql, new { Count = count }, transaction, commandTimeout: 600);
        }

        await connection.ExecuteAsync(_schema.FeedSql, transaction: transaction);
        await connection.ExecuteAsync(TaskSchema.SeedFeedSql, new { Count = count, Retain = retain }, transaction, commandTimeout: 600);
        await connection.ExecuteAsync(_schema.StartIdsSql, new { MaxId = count }, transaction);
        LogCreated(_logger, Provider, database, count);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Upgraded {Provider} task database {Database} to the change log; followers resume from change {Head} on")]
    private static partial void LogUpgraded(ILogger logger, string provider, string? database, long head);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created {Provider} task database {Database} with {Count} tasks")]
    private static partial void LogCreated(ILogger logger, string provider, string? database, int count);
}
