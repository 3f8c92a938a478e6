using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;

namespace TaskStream.Grains.Data;

/// <summary>
/// The one place a <see cref="TaskQuery"/> becomes SQL. Every endpoint (stream, list) reads through here.
/// Rows are read in keyset pages so memory per query is bounded by the page size, whatever the result
/// size, and no read transaction stays open while a slow client is being served.
/// </summary>
public static class TaskStore
{
    private const string Select = "SELECT id AS Id, title AS Title, description AS Description, completed AS Completed FROM tasks";
    private const string PageSql = Select + " WHERE id > @After ORDER BY id LIMIT @Take";
    private const string FilteredPageSql = Select + " WHERE completed = @Completed AND id > @After ORDER BY id LIMIT @Take";

    // How many tasks of a limited stream a resuming client already has: those in (After, ResumeAfter].
    private const string DeliveredSql = "SELECT COUNT(*) FROM tasks WHERE id > @After AND id <= @ResumeAfter";
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
        long after, remaining;
        List<TaskRow> page;
        await using (var connection = await openConnection(cancellationToken))
        {
            (after, remaining) = await StartAsync(connection, query, cancellationToken);
            page = await ReadPageAsync(connection, pageSql, query, after, remaining, pageSize, cancellationToken);
        }

        while (true)
        {
            foreach (var row in page)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return new TaskItem(row.Id, row.Title, row.Description, row.Completed);
            }

            remaining -= page.Count;
            if (page.Count < pageSize || remaining <= 0)
            {
                yield break;
            }

            after = page[^1].Id;
            await using var connection = await openConnection(cancellationToken);
            page = await ReadPageAsync(connection, pageSql, query, after, remaining, pageSize, cancellationToken);
        }
    }

    private static async Task<List<TaskRow>> ReadPageAsync(
        DbConnection connection, string pageSql, TaskQuery query, long after, long remaining, int pageSize, CancellationToken cancellationToken)
    {
        if (remaining <= 0)
        {
            return [];
        }

        var take = (int)Math.Min(pageSize, remaining);
        var rows = await connection.QueryAsync<TaskRow>(new CommandDefinition(
            pageSql, new { After = after, Take = take, query.Completed }, cancellationToken: cancellationToken));
        return rows.AsList();
    }

    private static async Task<(long After, long Remaining)> StartAsync(
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

    private static void Validate(TaskQuery query)
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

    // SQLite hands INTEGER back as Int64, so Dapper maps into settable properties rather than the record's
    // constructor (FACTS.md); Completed converts from 0/1.
    private sealed class TaskRow
    {
        public long Id { get; set; }
        public string Title { get; set; } = "";
        public string Description { get; set; } = "";
        public bool Completed { get; set; }
    }
}
