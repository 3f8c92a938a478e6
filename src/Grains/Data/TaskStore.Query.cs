using System.Data.Common;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace TaskStream.Grains.Data;

// The reads in id order (streams and lists) and of one task. Rows are read in keyset pages, bounded in rows and in
// bytes, so memory per query is bounded whatever the result size, and no read transaction stays open while a slow
// client is being served.
public sealed partial class TaskStore
{
    /// <summary>
    /// Streams the query's tasks page by page. Each page is read on a connection lent to it alone and
    /// given back before the page's rows are handed out, so a query that waits on a slow or idle client holds
    /// rows in memory (one page at most) but no connection.
    /// </summary>
    public async IAsyncEnumerable<TaskItem> QueryAsync(TaskQuery query, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Validate(query);
        var pageSql = query.Completed is null ? TaskRows.PageSql : TaskRows.FilteredPageSql;
        var page = new List<TaskItem>(Math.Min(_options.PageSize, 64));
        long after, remaining;
        bool more;
        await using (var read = await _reads.OpenAsync(cancellationToken))
        {
            (after, remaining) = await StartAsync(read, query, cancellationToken);
            more = await ReadPageAsync(read, pageSql, query, after, remaining, page, cancellationToken);
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
            await using var read = await _reads.OpenAsync(cancellationToken);
            more = await ReadPageAsync(read, pageSql, query, after, remaining, page, cancellationToken);
        }
    }

    /// <summary>The task with id <paramref name="id"/>, or <c>null</c> when there is none: one row, on a connection of its own.</summary>
    public async Task<TaskItem?> GetAsync(long id, CancellationToken cancellationToken = default)
    {
        await using var read = await _reads.OpenAsync(cancellationToken);
        await using var reader = await read.Command(TaskRows.ByIdSql, ("@Id", id)).ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? TaskRows.ReadTask(reader) : null;
    }

    // True when the page is full (in rows or bytes), so more may follow.
    private async Task<bool> ReadPageAsync(ReadConnection read, string pageSql, TaskQuery query,
        long after, long remaining, List<TaskItem> page, CancellationToken cancellationToken)
    {
        if (remaining <= 0)
        {
            return false;
        }

        var take = (int)Math.Min(_options.PageSize, remaining);
        var command = query.Completed is { } completed
            ? read.Command(pageSql, ("@After", after), ("@Take", take), ("@Completed", completed))
            : read.Command(pageSql, ("@After", after), ("@Take", take));
        return await FillPageAsync(command, take, page, TaskRows.ReadTask, task => (task.Title, task.Description), cancellationToken);
    }

    /// <summary>
    /// Runs a page query and reads its rows into <paramref name="page"/>, stopping once their text has spent the
    /// page's byte budget (a page always takes its first row). True when more may follow: the page is full, in rows
    /// (<paramref name="take"/>) or in bytes. Every page read of the store (list, snapshot, change log) goes through here.
    /// </summary>
    private async Task<bool> FillPageAsync<T>(DbCommand command, int take, List<T> page,
        Func<DbDataReader, T> read, Func<T, (string? Title, string? Description)> text, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var budget = new PageBudget(_options.PageBytes);
        while (await reader.ReadAsync(cancellationToken))
        {
            var row = read(reader);
            page.Add(row);
            var (title, description) = text(row);
            if (!budget.Take(title, description))
            {
                return true;
            }
        }

        return page.Count == take;
    }

    private static async ValueTask<(long After, long Remaining)> StartAsync(
        ReadConnection read, TaskQuery query, CancellationToken cancellationToken)
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

        var command = query.Completed is { } completed
            ? read.Command(TaskRows.FilteredDeliveredSql, ("@After", query.After), ("@ResumeAfter", resumeAfter), ("@Completed", completed))
            : read.Command(TaskRows.DeliveredSql, ("@After", query.After), ("@ResumeAfter", resumeAfter));
        var delivered = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture);
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
}
