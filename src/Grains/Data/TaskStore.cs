using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;

namespace TaskStream.Grains.Data;

/// <summary>
/// The one place a <see cref="TaskQuery"/> becomes SQL. Every endpoint (stream, follow, list) reads through
/// here. Rows are read in keyset pages so memory per query is bounded by the page size, whatever the result
/// size, and no read transaction stays open while a slow client is being served.
/// </summary>
public static partial class TaskStore
{
    private const string Select = "SELECT id, title, description, completed FROM tasks";
    private const string PageSql = Select + " WHERE id > @After AND NOT deleted ORDER BY id LIMIT @Take";
    private const string FilteredPageSql = Select + " WHERE completed = @Completed AND id > @After AND NOT deleted ORDER BY id LIMIT @Take";

    // How many tasks of a limited stream a resuming client already has: those in (After, ResumeAfter].
    private const string DeliveredSql = "SELECT COUNT(*) FROM tasks WHERE id > @After AND id <= @ResumeAfter AND NOT deleted";
    private const string FilteredDeliveredSql = DeliveredSql + " AND completed = @Completed";

    /// <summary>
    /// Streams the query's tasks page by page. Each page is read on a connection opened for it alone and
    /// closed before the page's rows are handed out, so a query that waits on a slow or idle client holds
    /// rows in memory (one page at most) but no connection.
    /// </summary>
    public static async IAsyncEnumerable<TaskItem> QueryAsync(
        Func<CancellationToken, Task<DbConnection>> openConnection, TaskQuery query, int pageSize,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Validate(query);
        var pageSql = query.Completed is null ? PageSql : FilteredPageSql;
        var page = new List<TaskItem>(Math.Min(pageSize, 64));
        long after, remaining;
        await using (var connection = await openConnection(cancellationToken))
        {
            (after, remaining) = await StartAsync(connection, query, cancellationToken);
            await ReadPageAsync(connection, pageSql, query, after, remaining, pageSize, page, cancellationToken);
        }

        while (true)
        {
            foreach (var task in page)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return task;
            }

            remaining -= page.Count;
            if (page.Count < pageSize || remaining <= 0)
            {
                yield break;
            }

            after = page[^1].Id;
            page.Clear();
            await using var connection = await openConnection(cancellationToken);
            await ReadPageAsync(connection, pageSql, query, after, remaining, pageSize, page, cancellationToken);
        }
    }

    // Dapper binds the parameters; the rows are read straight into TaskItem. (Dapper's own mapping would go
    // through a settable-property class, because SQLite hands `completed` back as Int64, not bool: FACTS.md.)
    private static async Task ReadPageAsync(DbConnection connection, string pageSql, TaskQuery query,
        long after, long remaining, int pageSize, List<TaskItem> page, CancellationToken cancellationToken)
    {
        if (remaining <= 0)
        {
            return;
        }

        var take = (int)Math.Min(pageSize, remaining);
        await using var reader = await connection.ExecuteReaderAsync(new CommandDefinition(
            pageSql, new { After = after, Take = take, query.Completed }, cancellationToken: cancellationToken));
        while (await reader.ReadAsync(cancellationToken))
        {
            page.Add(ReadTask(reader));
        }
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

        if (query.After < 0 || query.ResumeAfter < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(query), "Task ids to resume after must be 0 or more.");
        }
    }
}
