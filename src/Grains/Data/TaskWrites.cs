using System.Data.Common;
using Dapper;

namespace TaskStream.Grains.Data;

/// <summary>
/// The SQL of every write. Each runs inside <see cref="TaskDatabase.WriteAsync{T}"/>, whose write lock makes
/// "the highest sequence number + 1" the next one cluster-wide, and ids likewise (tombstones keep theirs, so
/// an id is never reused).
/// </summary>
public static class TaskWrites
{
    private const string NextSeq = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks)";
    private const string Returning = " RETURNING id, title, description, completed, seq";

    private const string CreateSql =
        "INSERT INTO tasks (id, title, description, completed, deleted, seq, completed_seq) " +
        "VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM tasks), @Title, @Description, @Completed, FALSE, " + NextSeq + ", 0)" +
        Returning;

    // completed_seq moves only when `completed` really flips (see TaskStore.FollowAsync for why it matters).
    private const string UpdateSql =
        "UPDATE tasks SET title = COALESCE(@Title, title), description = COALESCE(@Description, description), " +
        "completed_seq = CASE WHEN @Completed IS NOT NULL AND completed <> @Completed THEN " + NextSeq + " ELSE completed_seq END, " +
        "completed = COALESCE(@Completed, completed), seq = " + NextSeq + " " +
        "WHERE id = @Id AND NOT deleted" + Returning;

    // The tombstone keeps its id, `completed` and sequence numbers; the text goes.
    private const string DeleteSql =
        "UPDATE tasks SET deleted = TRUE, title = '', description = '', seq = " + NextSeq + " WHERE id = @Id AND NOT deleted RETURNING seq";

    public static async Task<TaskWritten> CreateAsync(DbConnection connection, DbTransaction transaction, NewTask task) =>
        (await ReadWrittenAsync(connection, transaction, CreateSql, new { task.Title, task.Description, task.Completed }))!;

    public static Task<TaskWritten?> UpdateAsync(DbConnection connection, DbTransaction transaction, long id, TaskPatch patch) =>
        ReadWrittenAsync(connection, transaction, UpdateSql, new { Id = id, patch.Title, patch.Description, patch.Completed });

    public static Task<long?> DeleteAsync(DbConnection connection, DbTransaction transaction, long id) =>
        connection.QuerySingleOrDefaultAsync<long?>(DeleteSql, new { Id = id }, transaction);

    private static async Task<TaskWritten?> ReadWrittenAsync(DbConnection connection, DbTransaction transaction, string sql, object parameters)
    {
        await using var reader = await connection.ExecuteReaderAsync(sql, parameters, transaction);
        if (!await reader.ReadAsync())
        {
            return null;
        }

        return new TaskWritten(TaskStore.ReadTask(reader), reader.GetInt64(4));
    }
}
