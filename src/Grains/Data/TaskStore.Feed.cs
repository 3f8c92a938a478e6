namespace TaskStream.Grains.Data;

// The change log read for a silo's ChangeWindow: once per silo, not once per follower.
public sealed partial class TaskStore
{
    /// <summary>
    /// On a connection of its own (the caller's alone, given back before this returns), reads the log's position, asks
    /// <paramref name="startAfter"/> where to start (null: read nothing), then every change from there to that
    /// head, handing each page to <paramref name="append"/> as it is read. Counted as a read by the feed.
    /// </summary>
    internal async Task ReadFeedChangesAsync(Func<FeedPosition, long?> startAfter, Action<IReadOnlyList<ChangeRow>> append,
        CancellationToken cancellationToken)
    {
        _metrics.ChangeLogRead(ChangeLogReader.Feed);
        await using var read = await _reads.OpenAsync(cancellationToken);
        var feed = await ReadFeedAsync(read, cancellationToken);
        if (startAfter(feed) is not { } after)
        {
            return;
        }

        var page = new List<ChangeRow>();
        var more = after < feed.Head;
        while (more)
        {
            page.Clear();
            more = await ReadChangesPageAsync(read, after, feed.Head, page, cancellationToken);
            if (page.Count == 0)
            {
                return;
            }

            append(page);
            after = page[^1].Seq;
        }
    }
}
