using System.Runtime.CompilerServices;

namespace TaskStream.Grains.Data;

/// <summary>
/// What a follow query takes its changes from and waits on once caught up: each silo's <see cref="ChangeWindow"/>,
/// the newest change rows, read once for every follower of the silo.
/// </summary>
public interface IChangeSignal
{
    /// <summary>
    /// Completes once a follower at <paramref name="seq"/> has something to do: a newer change is here, or the
    /// store is no longer expected to reach <paramref name="seq"/> (its head went back).
    /// </summary>
    ValueTask WaitForChangeAfterAsync(long seq, CancellationToken cancellationToken);

    /// <summary>A follower read the store's head itself: the signal learns it too.</summary>
    void Observe(long head);

    /// <summary>
    /// Adds the changes after <paramref name="after"/> held in memory, at most <paramref name="max"/>; false when
    /// they are not all held (older than what is kept, or newer than what was read): then read the store.
    /// </summary>
    bool TryTake(long after, List<ChangeRow> rows, int max);
}

/// <summary>The store's change-log position: the newest change, and the oldest position the log can still resume from.</summary>
public readonly record struct FeedPosition(long Head, long Horizon);

public sealed partial class TaskStore
{
    /// <summary>
    /// A follow query. First the matching tasks as of now, in change order (at most <see cref="TaskQuery.Limit"/>),
    /// or, for a client resuming from change <see cref="TaskQuery.ResumeAfter"/>, every change after it; then one
    /// <see cref="FollowingLive"/>; then every later change as it is logged. Changes come from the change log,
    /// one event per change, in order, so a follower's view after each event is exactly what its filter shows at
    /// that change. Changes that <paramref name="changes"/> holds (read once for the whole silo) are taken from
    /// there; a follower reads the log itself when it starts or resumes (up to the head it finds, so that `live`
    /// on a new connection means everything committed before it was sent), or when it is older than what is held. A
    /// resume the log cannot serve (from before its horizon, or from a position the store never had) gets a
    /// <see cref="FollowReset"/> and a fresh snapshot instead: never a silent gap. Each read is on a connection of
    /// its own, given back before its rows are handed out: a waiting follower holds none.
    /// </summary>
    public async IAsyncEnumerable<TaskQueryEvent> FollowAsync(
        TaskQuery query, string silo, IChangeSignal changes, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Validate(query);
        var cursor = query.ResumeAfter ?? 0;
        var needSnapshot = query.ResumeAfter is null;
        var live = false; // said `live` since the last snapshot
        var lastSent = 0L; // the position of the last event sent
        var progressEvery = Math.Clamp(_options.RetainChanges / 4, 1, 1000);
        var page = new List<ChangeRow>(); // grows only as far as what comes: a waiting follower holds little
        var fromStore = true; // until caught up with the store's head as read on (re)connecting, or after falling behind
        while (true)
        {
            page.Clear();
            var more = false;
            if (fromStore || !changes.TryTake(cursor, page, _options.PageSize))
            {
                FeedPosition feed;
                FollowReset? reset = null;
                _metrics.ChangeLogRead(ChangeLogReader.Follower);
                await using (var read = await _reads.OpenAsync(cancellationToken))
                {
                    feed = await ReadFeedAsync(read, cancellationToken);
                    if (!needSnapshot)
                    {
                        // A position the log no longer has (pruned) or never had (the store was re-created or restored):
                        // the client must drop its view and take a fresh snapshot.
                        reset = cursor > feed.Head ? new FollowReset(FollowReset.StoreChanged)
                            : cursor < feed.Horizon ? new FollowReset(FollowReset.BeyondHorizon)
                            : null;
                        if (reset is null)
                        {
                            more = await ReadChangesPageAsync(read, cursor, feed.Head, page, cancellationToken);
                        }
                    }
                }

                changes.Observe(feed.Head);
                if (reset is not null)
                {
                    yield return reset;
                    (needSnapshot, live) = (true, false);
                }

                if (needSnapshot)
                {
                    // Every matching task whose latest change is at or before the head read above. One changed
                    // meanwhile moves past the head and comes from the log as a change: none is missed.
                    await foreach (var task in SnapshotAsync(query, feed.Head, cancellationToken))
                    {
                        yield return task;
                    }

                    (cursor, needSnapshot) = (feed.Head, false);
                }

                fromStore = more;
            }
            else
            {
                more = page.Count == _options.PageSize;
            }

            // Every change ready is handed out without a wait between them, so Orleans sends them in one batch.
            foreach (var row in page)
            {
                cancellationToken.ThrowIfCancellationRequested();
                cursor = row.Seq;
                if (ToEvent(row, query.Completed) is { } change)
                {
                    lastSent = cursor;
                    yield return change;
                }
            }

            if (more)
            {
                continue;
            }

            // Caught up: say so once, and again when filtered-out changes have moved the position on a long way,
            // so that the client's Last-Event-ID stays well inside the log's horizon.
            if (!live || cursor - lastSent >= progressEvery)
            {
                (live, lastSent) = (true, cursor);
                yield return new FollowingLive(cursor, silo);
            }

            // Resumes on a thread-pool thread, not through the grain's scheduler: nothing here needs the grain, and the
            // grain's own iterator goes back to it when this yields. One scheduler hop per change fewer.
            await changes.WaitForChangeAfterAsync(cursor, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// What a change means to a follower of <paramref name="completed"/>. The follower has applied every change
    /// before this one, so it holds the task exactly when the task matched just before it: it gets the task if it
    /// matches now, <c>task-deleted</c> if it matched before but not now (deleted, or left the filter), and
    /// nothing if it matches neither before nor after.
    /// </summary>
    private static TaskQueryEvent? ToEvent(ChangeRow row, bool? completed)
    {
        if (row.Completed is { } now && (completed is null || now == completed))
        {
            return new TaskChanged(row.Seq, new TaskItem(row.TaskId, row.Title!, row.Description!, now));
        }

        if (row.WasCompleted is { } before && (completed is null || before == completed))
        {
            return new TaskDeleted(row.Seq, row.TaskId);
        }

        return null;
    }

    private async IAsyncEnumerable<TaskChanged> SnapshotAsync(
        TaskQuery query, long until, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var remaining = query.Limit ?? long.MaxValue;
        var page = new List<TaskChanged>(Math.Min(_options.PageSize, 64));
        var after = 0L;
        var more = true;
        while (more && remaining > 0)
        {
            page.Clear();
            await using (var read = await _reads.OpenAsync(cancellationToken))
            {
                more = await ReadSnapshotPageAsync(read, query, after, until, remaining, page, cancellationToken);
            }

            foreach (var task in page)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return task;
            }

            remaining -= page.Count;
            after = page.Count > 0 ? page[^1].Seq : after;
        }
    }

    private Task<bool> ReadSnapshotPageAsync(ReadConnection read, TaskQuery query,
        long after, long until, long remaining, List<TaskChanged> page, CancellationToken cancellationToken)
    {
        var take = (int)Math.Min(_options.PageSize, remaining);
        var command = query.Completed is { } completed
            ? read.Command(TaskRows.FilteredSnapshotPageSql, ("@After", after), ("@Until", until), ("@Take", take), ("@Completed", completed))
            : read.Command(TaskRows.SnapshotPageSql, ("@After", after), ("@Until", until), ("@Take", take));
        return FillPageAsync(command, take, page, TaskRows.ReadTaskAndSeq, changed => (changed.Task.Title, changed.Task.Description), cancellationToken);
    }

    private Task<bool> ReadChangesPageAsync(ReadConnection read, long after, long until,
        List<ChangeRow> page, CancellationToken cancellationToken) =>
        FillPageAsync(read.Command(TaskRows.ChangesPageSql, ("@After", after), ("@Until", until), ("@Take", _options.PageSize)),
            _options.PageSize, page, TaskRows.ReadChange, row => (row.Title, row.Description), cancellationToken);
}
