using System.Data.Common;
using Dapper;

namespace TaskStream.Grains.Data;

// The writes: plain statements on `tasks` (the triggers give each change its sequence number and log it), then a
// read of the result in the same transaction, and with an idempotency key, the key kept in that transaction too.
public sealed partial class TaskStore
{
    /// <summary>
    /// Makes <paramref name="write"/> in the store's write transaction, once per <paramref name="key"/> when one is
    /// given (<see cref="IdempotencyKeys"/>). Fails, writing nothing, once <paramref name="cancellationToken"/> (the
    /// write's deadline) is cancelled before the commit; <see cref="IsBusy"/> tells such failures apart.
    /// </summary>
    public Task<WriteAnswer> WriteAsync(TaskWrite write, IdempotencyKey? key = null, CancellationToken cancellationToken = default) =>
        InWriteTransactionAsync(async (connection, transaction) =>
        {
            if (key is not null)
            {
                return await _keys.WriteOnceAsync(connection, transaction, key, write, () => RunAsync(connection, transaction, write));
            }

            var (task, seq) = await RunAsync(connection, transaction, write);
            return new WriteAnswer(WriteOutcome.Written, task, seq);
        }, cancellationToken);

    private static async Task<(TaskItem? Task, long? Seq)> RunAsync(DbConnection connection, DbTransaction transaction, TaskWrite write)
    {
        switch (write)
        {
            case TaskWrite.Create { Task: var task }:
                var created = await connection.ExecuteScalarAsync<long>(TaskRows.CreateSql, new { task.Title, task.Description, task.Completed }, transaction);
                return await ReadWrittenAsync(connection, transaction, created);
            case TaskWrite.Update { Id: var id, Patch: var patch }:
                return await connection.ExecuteScalarAsync<long?>(TaskRows.UpdateSql, new { Id = id, patch.Title, patch.Description, patch.Completed }, transaction) is { } updated
                    ? await ReadWrittenAsync(connection, transaction, updated)
                    : (null, null);
            case TaskWrite.Delete { Id: var id }:
                return (null, await connection.ExecuteScalarAsync<long?>(TaskRows.DeleteSql, new { Id = id }, transaction) is null
                    ? null
                    : await connection.ExecuteScalarAsync<long>(TaskRows.HeadSql, transaction: transaction)); // this transaction holds the feed: the head is ours
            default:
                throw new ArgumentOutOfRangeException(nameof(write), write, "Not a task write.");
        }
    }

    private static async Task<(TaskItem? Task, long? Seq)> ReadWrittenAsync(DbConnection connection, DbTransaction transaction, long id)
    {
        await using var reader = await connection.ExecuteReaderAsync(TaskRows.WrittenSql, new { Id = id }, transaction);
        return await reader.ReadAsync() && TaskRows.ReadTaskAndSeq(reader) is { } written ? (written.Task, written.Seq) : (null, null);
    }
}
