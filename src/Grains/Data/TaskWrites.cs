using System.Data.Common;
using Dapper;

namespace TaskStream.Grains.Data;

/// <summary>
/// The SQL of the API's writes: the same plain statements on <c>tasks</c> that any other writer may run (the
/// store's triggers give each change its sequence number and log it), then a read of the result inside the same
/// transaction. Each runs inside <see cref="TaskDatabase.WriteAsync{T}"/>.
/// </summary>
public static class TaskWrites
{
    private const string CreateSql = "INSERT INTO tasks (title, description, completed) VALUES (@Title, @Description, @Completed) RETURNING id";

    private const string UpdateSql =
        "UPDATE tasks SET title = COALESCE(@Title, title), description = COALESCE(@Description, description), " +
        "completed = COALESCE(@Completed, completed) WHERE id = @Id RETURNING id";

    private const string DeleteSql = "DELETE FROM tasks WHERE id = @Id RETURNING id";

    // A write that changed nothing (the same values again) takes no sequence number: its seq is the task's latest.
    private const string ReadSql = "SELECT " + TaskStore.ColumnsAndSeq + " FROM tasks WHERE id = @Id";
    private const string HeadSql = "SELECT head FROM task_feed";

    public static async Task<TaskWritten> CreateAsync(DbConnection connection, DbTransaction transaction, NewTask task)
    {
        var id = await connection.ExecuteScalarAsync<long>(CreateSql, new { task.Title, task.Description, task.Completed }, transaction);
        return (await ReadAsync(connection, transaction, id))!;
    }

    public static async Task<TaskWritten?> UpdateAsync(DbConnection connection, DbTransaction transaction, long id, TaskPatch patch) =>
        await connection.ExecuteScalarAsync<long?>(UpdateSql, new { Id = id, patch.Title, patch.Description, patch.Completed }, transaction) is { } updated
            ? await ReadAsync(connection, transaction, updated)
            : null;

    /// <summary>The deletion's sequence number, or <c>null</c> when there is no such task.</summary>
    public static async Task<long?> DeleteAsync(DbConnection connection, DbTransaction transaction, long id) =>
        await connection.ExecuteScalarAsync<long?>(DeleteSql, new { Id = id }, transaction) is null
            ? null
            : await connection.ExecuteScalarAsync<long>(HeadSql, transaction: transaction); // this transaction holds the feed: the head is ours

    private static async Task<TaskWritten?> ReadAsync(DbConnection connection, DbTransaction transaction, long id)
    {
        await using var reader = await connection.ExecuteReaderAsync(ReadSql, new { Id = id }, transaction);
        return await reader.ReadAsync() ? new TaskWritten(TaskStore.ReadTask(reader), reader.GetInt64(4)) : null;
    }
}
