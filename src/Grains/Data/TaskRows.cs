using System.Data.Common;

namespace TaskStream.Grains.Data;

/// <summary>
/// The SQL that reads and writes tasks, and the one place their rows become objects. Every statement that returns
/// tasks starts with <see cref="Columns"/> (then <c>seq</c> where asked), so the mapping below is the only one.
/// Schema, seed and upgrade SQL are in <see cref="TaskSchema"/>.
/// </summary>
internal static class TaskRows
{
    // The one column list: ReadTask maps these, in this order; `seq` (the task's latest change) follows when asked for.
    private const string Columns = "id, title, description, completed";
    private const string ColumnsAndSeq = Columns + ", seq";

    public const string PageSql = "SELECT " + Columns + " FROM tasks WHERE id > @After ORDER BY id LIMIT @Take";
    public const string FilteredPageSql = "SELECT " + Columns + " FROM tasks WHERE completed = @Completed AND id > @After ORDER BY id LIMIT @Take";
    public const string ByIdSql = "SELECT " + Columns + " FROM tasks WHERE id = @Id";

    // How many tasks of a limited stream a resuming client already has: those in (After, ResumeAfter].
    public const string DeliveredSql = "SELECT COUNT(*) FROM tasks WHERE id > @After AND id <= @ResumeAfter";
    public const string FilteredDeliveredSql = DeliveredSql + " AND completed = @Completed";

    private const string SnapshotColumns = "SELECT " + ColumnsAndSeq + " FROM tasks";
    public const string SnapshotPageSql = SnapshotColumns + " WHERE seq > @After AND seq <= @Until ORDER BY seq LIMIT @Take";
    public const string FilteredSnapshotPageSql = SnapshotColumns + " WHERE seq > @After AND seq <= @Until AND completed = @Completed ORDER BY seq LIMIT @Take";

    public const string ChangesPageSql =
        "SELECT seq, task_id, title, description, completed, was_completed FROM task_changes WHERE seq > @After AND seq <= @Until ORDER BY seq LIMIT @Take";

    public const string FeedSql = "SELECT head AS Head, horizon AS Horizon FROM task_feed";
    public const string HeadSql = "SELECT head FROM task_feed";
    public const string PingSql = "SELECT 1";

    // The writes: the same plain statements on `tasks` that any other writer may run; the triggers number and log them.
    public const string CreateSql = "INSERT INTO tasks (title, description, completed) VALUES (@Title, @Description, @Completed) RETURNING id";

    public const string UpdateSql =
        "UPDATE tasks SET title = COALESCE(@Title, title), description = COALESCE(@Description, description), " +
        "completed = COALESCE(@Completed, completed) WHERE id = @Id RETURNING id";

    public const string DeleteSql = "DELETE FROM tasks WHERE id = @Id RETURNING id";

    // A write that changed nothing (the same values again) takes no sequence number: its seq is the task's latest.
    public const string WrittenSql = "SELECT " + ColumnsAndSeq + " FROM tasks WHERE id = @Id";

    // (Dapper's own mapping would need a settable-property class: SQLite hands `completed` back as Int64.)
    public static TaskItem ReadTask(DbDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3));

    /// <summary>A row of <see cref="ColumnsAndSeq"/>: the task and its latest change.</summary>
    public static TaskChanged ReadTaskAndSeq(DbDataReader reader) => new(reader.GetInt64(4), ReadTask(reader));

    /// <summary>A row of <see cref="ChangesPageSql"/>.</summary>
    public static ChangeRow ReadChange(DbDataReader reader)
    {
        var deleted = reader.IsDBNull(4);
        return new ChangeRow(
            reader.GetInt64(0), reader.GetInt64(1),
            deleted ? null : reader.GetString(2), deleted ? null : reader.GetString(3), deleted ? null : reader.GetBoolean(4),
            reader.IsDBNull(5) ? null : reader.GetBoolean(5));
    }
}

/// <summary>A row of the change log: the task as the change left it (no text, no state: deleted), and whether it was completed before (null: created).</summary>
public readonly record struct ChangeRow(long Seq, long TaskId, string? Title, string? Description, bool? Completed, bool? WasCompleted);

/// <summary>Counts a page's text against its byte budget; a page always takes its first row.</summary>
internal struct PageBudget(int bytes)
{
    private long _left = bytes;

    /// <summary>False once the page holds as much text as it may.</summary>
    public bool Take(string? title, string? description)
    {
        _left -= Size(title, description);
        return _left > 0;
    }

    /// <summary>What a row counts against a budget: its text as UTF-16, and a little for the rest.</summary>
    public static long Size(string? title, string? description) => 2L * ((title?.Length ?? 0) + (description?.Length ?? 0)) + 64;
}
