using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;

namespace TaskStream.Grains.Data;

public static partial class TaskStore
{
    /// <summary>The newest change's sequence number (0 for an empty store).</summary>
    public const string HeadSql = "SELECT COALESCE(MAX(seq), 0) FROM tasks";

    private const string SnapshotSelect = "SELECT id, title, description, completed, seq FROM tasks";
    private const string SnapshotPageSql = SnapshotSelect + " WHERE seq > @After AND seq <= @Until AND NOT deleted ORDER BY seq LIMIT @Take";
    private const string FilteredSnapshotPageSql = SnapshotSelect + " WHERE seq > @After AND seq <= @Until AND NOT deleted AND completed = @Completed ORDER BY seq LIMIT @Take";
    private const string ChangesPageSql = "SELECT id, title, description, completed, seq, deleted, completed_seq FROM tasks WHERE seq > @After ORDER BY seq LIMIT @Take";

    /// <summary>
    /// A follow query: the matching tasks as of now in change order (at most <see cref="TaskQuery.Limit"/>),
    /// or for a resuming client what changed after its <see cref="TaskQuery.ResumeAfter"/>; then one
    /// <see cref="FollowingLive"/>; then every later change, waiting on <paramref name="waitForChange"/>
    /// (which returns once a change after the given sequence number may exist) whenever it has caught up.
    /// Each page is read on a connection of its own, closed before its rows are handed out: a follower
    /// waiting for changes holds none.
    /// </summary>
    public static async IAsyncEnumerable<TaskQueryEvent> FollowAsync(
        Func<CancellationToken, Task<DbConnection>> openConnection, TaskQuery query, int pageSize, string silo,
        Func<long, CancellationToken, Task> waitForChange, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Validate(query);
        long cursor = 0, head, remaining = query.Limit ?? long.MaxValue;
        var resuming = false;
        var snapshot = new List<TaskChanged>();
        await using (var connection = await openConnection(cancellationToken))
        {
            head = await connection.ExecuteScalarAsync<long>(new CommandDefinition(HeadSql, cancellationToken: cancellationToken));
            // A Last-Event-ID newer than the newest change was not sent from this store (it was re-created):
            // such a client starts over with a snapshot rather than waiting for sequence numbers it already passed.
            if (query.ResumeAfter is { } resumeAfter && resumeAfter <= head)
            {
                (cursor, resuming) = (resumeAfter, true);
            }
            else
            {
                await ReadSnapshotPageAsync(connection, query, cursor, head, remaining, pageSize, snapshot, cancellationToken);
            }
        }

        if (!resuming)
        {
            // The snapshot is every matching task whose latest change is at or before the head seen now. A task
            // changed meanwhile moves past the head and comes as a live change; none is missed or sent twice.
            while (snapshot.Count > 0)
            {
                foreach (var task in snapshot)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    yield return task;
                }

                remaining -= snapshot.Count;
                cursor = snapshot[^1].Seq;
                if (snapshot.Count < pageSize || remaining <= 0)
                {
                    break;
                }

                snapshot.Clear();
                await using var connection = await openConnection(cancellationToken);
                await ReadSnapshotPageAsync(connection, query, cursor, head, remaining, pageSize, snapshot, cancellationToken);
            }

            // Tasks past the limit, or not matching, are not the client's: changes to them count from the head on.
            cursor = head;
        }

        var live = false;
        var page = new List<ChangeRow>(Math.Min(pageSize, 64));
        while (true)
        {
            page.Clear();
            await using (var connection = await openConnection(cancellationToken))
            {
                await ReadChangesPageAsync(connection, cursor, pageSize, page, cancellationToken);
            }

            foreach (var row in page)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var change = ToEvent(row, query.Completed, cursor);
                cursor = row.Seq;
                if (change is not null)
                {
                    yield return change;
                }
            }

            if (page.Count == pageSize)
            {
                continue; // more is waiting
            }

            if (!live)
            {
                live = true;
                yield return new FollowingLive(cursor, silo);
            }

            await waitForChange(cursor, cancellationToken);
        }
    }

    /// <summary>
    /// What a follower whose view is consistent up to change <paramref name="seen"/> must hear of a row's
    /// latest change: the task if it matches; <c>task-deleted</c> if it is deleted or no longer matches and
    /// the client may have it; nothing if the client cannot have it (it did not match at <paramref name="seen"/>
    /// and its <c>completed</c> has not flipped since).
    /// </summary>
    private static TaskQueryEvent? ToEvent(ChangeRow row, bool? completed, long seen)
    {
        if (!row.Deleted && (completed is null || row.Task.Completed == completed))
        {
            return new TaskChanged(row.Seq, row.Task);
        }

        if (completed is null || row.CompletedSeq > seen || row.Task.Completed == completed)
        {
            return new TaskDeleted(row.Seq, row.Task.Id);
        }

        return null;
    }

    private static async Task ReadSnapshotPageAsync(DbConnection connection, TaskQuery query, long after, long until,
        long remaining, int pageSize, List<TaskChanged> page, CancellationToken cancellationToken)
    {
        var take = (int)Math.Min(pageSize, remaining);
        await using var reader = await connection.ExecuteReaderAsync(new CommandDefinition(
            query.Completed is null ? SnapshotPageSql : FilteredSnapshotPageSql,
            new { After = after, Until = until, Take = take, query.Completed }, cancellationToken: cancellationToken));
        while (await reader.ReadAsync(cancellationToken))
        {
            page.Add(new TaskChanged(reader.GetInt64(4), ReadTask(reader)));
        }
    }

    private static async Task ReadChangesPageAsync(DbConnection connection, long after, int pageSize, List<ChangeRow> page, CancellationToken cancellationToken)
    {
        await using var reader = await connection.ExecuteReaderAsync(new CommandDefinition(
            ChangesPageSql, new { After = after, Take = pageSize }, cancellationToken: cancellationToken));
        while (await reader.ReadAsync(cancellationToken))
        {
            page.Add(new ChangeRow(ReadTask(reader), reader.GetInt64(4), reader.GetBoolean(5), reader.GetInt64(6)));
        }
    }

    internal static TaskItem ReadTask(DbDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3));

    private readonly record struct ChangeRow(TaskItem Task, long Seq, bool Deleted, long CompletedSeq);
}
