using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;

namespace TaskStream.Grains.Data;

/// <summary>
/// The one place a <see cref="TaskQuery"/> becomes SQL. Every endpoint (stream, follow, list) reads through
/// here. Rows are read in keyset pages, bounded in rows and in bytes, so memory per query is bounded whatever
/// the result size, and no read transaction stays open while a slow client is being served.
/// </summary>
public static partial class TaskStore
{
    // The one column list: ReadTask maps these, in this order, and `seq` (the task's latest change) follows when asked for.
    private const string Columns = "id, title, description, completed";
    internal const string ColumnsAndSeq = Columns + ", seq";
    private const string PageSql = "SELECT " + Columns + " FROM tasks WHERE id > @After ORDER BY id LIMIT @Take";
    private const string FilteredPageSql = "SELECT " + Columns + " FROM tasks WHERE completed = @Completed AND id > @After ORDER BY id LIMIT @Take";
    private const string TaskSql = "SELECT " + Columns + " FROM tasks WHERE id = @Id";

    // How many tasks of a limited stream a resuming client already has: those in (After, ResumeAfter].
    private const string DeliveredSql = "SELECT COUNT(*) FROM tasks WHERE id > @After AND id <= @ResumeAfter";
    private const string FilteredDeliveredSql = DeliveredSql + " AND completed = @Completed";

    /// <summary>
    /// Streams the query's tasks page by page. Each page is read on a connection opened for it alone and
    /// closed before the page's rows are handed out, so a query that waits on a slow or idle client holds
    /// rows in memory (one page at most) but no connection.
    /// </summary>
    public static async IAsyncEnumerable<TaskItem> QueryAsync(
        TaskDatabase database, TaskQuery query, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Validate(query);
        if (query.TaskId is { } id)
        {
            TaskItem? found;
            await using (var connection = await database.OpenConnectionAsync(cancellationToken))
            await using (var reader = await connection.ExecuteReaderAsync(new CommandDefinition(TaskSql, new { Id = id }, cancellationToken: cancellationToken)))
            {
                found = await reader.ReadAsync(cancellationToken) ? ReadTask(reader) : null;
            }

            if (found is not null)
            {
                yield return found;
            }

            yield break;
        }

        var pageSql = query.Completed is null ? PageSql : FilteredPageSql;
        var page = new List<TaskItem>(Math.Min(database.PageSize, 64));
        long after, remaining;
        bool more;
        await using (var connection = await database.OpenConnectionAsync(cancellationToken))
        {
            (after, remaining) = await StartAsync(connection, query, cancellationToken);
            more = await ReadPageAsync(connection, database, pageSql, query, after, remaining, page, cancellationToken);
        }

        while (true)
        {
            foreach (var task in page)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return task;
            }

            remaining -= page.Count;
            if (!more || remaining <= 0)
            {
                yield break;
            }

            after = page[^1].Id;
            page.Clear();
            await using var connection = await database.OpenConnectionAsync(cancellationToken);
            more = await ReadPageAsync(connection, database, pageSql, query, after, remaining, page, cancellationToken);
        }
    }

    // True when the page is full (in rows or bytes), so more may follow.
    private static async Task<bool> ReadPageAsync(DbConnection connection, TaskDatabase database, string pageSql, TaskQuery query,
        long after, long remaining, List<TaskItem> page, CancellationToken cancellationToken)
    {
        if (remaining <= 0)
        {
            return false;
        }

        var take = (int)Math.Min(database.PageSize, remaining);
        await using var reader = await connection.ExecuteReaderAsync(new CommandDefinition(
            pageSql, new { After = after, Take = take, query.Completed }, cancellationToken: cancellationToken));
        var budget = new PageBudget(database.PageBytes);
        while (await reader.ReadAsync(cancellationToken))
        {
            var task = ReadTask(reader);
            page.Add(task);
            if (!budget.Take(task.Title, task.Description))
            {
                return true;
            }
        }

        return page.Count == take;
    }

    private static async ValueTask<(long After, long Remaining)> StartAsync(
        DbConnection connection, TaskQuery query, CancellationToken cancellationToken)
    {
        var limit = query.Limit ?? long.MaxValue;
        if (query.ResumeAfter is not { } resumeAfter || resumeAfter <= query.After)
        {
            return (query.After, limit);
        }

        if (query.Limit is null)
        {
            return (resumeAfter, limit);
        }

        var delivered = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            query.Completed is null ? DeliveredSql : FilteredDeliveredSql,
            new { query.After, ResumeAfter = resumeAfter, query.Completed },
            cancellationToken: cancellationToken));
        return (resumeAfter, limit - delivered);
    }

    internal static void Validate(TaskQuery query)
    {
        if (query.Limit is < 1 or > TaskQuery.MaxLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.Limit, "Limit must be between 1 and 1,000,000,000.");
        }

        if (query.TaskId < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.TaskId, "A task id is 1 or more.");
        }

        if (query.After < 0 || query.ResumeAfter < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(query), "Task ids to resume after must be 0 or more.");
        }
    }

    // Columns id, title, description, completed, in that order, at the start of every task query's rows.
    // (Dapper's own mapping would need a settable-property class: SQLite hands `completed` back as Int64.)
    internal static TaskItem ReadTask(DbDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3));

    /// <summary>Counts a page's text against its byte budget; a page always takes its first row.</summary>
    private struct PageBudget(int bytes)
    {
        private long _left = bytes;

        /// <summary>False once the page holds as much text as it may.</summary>
        public bool Take(string? title, string? description)
        {
            _left -= 2L * ((title?.Length ?? 0) + (description?.Length ?? 0)) + 64;
            return _left > 0;
        }
    }
}
