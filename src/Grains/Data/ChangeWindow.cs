using System.Runtime.CompilerServices;

namespace TaskStream.Grains.Data;

/// <summary>
/// A silo's newest change rows, in memory, and the follow queries waiting for more: the store's change log is read
/// once per silo (<see cref="RefreshAsync"/>, on a connection of the window's own) and handed to every follower
/// whose position the window covers, each applying its own filter. A follower older than the window reads the store
/// itself. Bounded by rows and by bytes (<c>FeedWindowRows</c>, <c>FeedWindowBytes</c>): the oldest rows leave
/// first. The window holds every logged change after <see cref="Start"/> up to <see cref="End"/>, none missing.
/// </summary>
public sealed class ChangeWindow(TaskStore store, int maxRows, long maxBytes) : IChangeSignal
{
    private readonly Lock _gate = new();
    private readonly List<ChangeRow> _rows = [];
    private TaskCompletionSource _moved = NewSignal();
    private long _start;
    private long _bytes;
    private long _known; // the newest change anyone told this silo of: the store's head is at least this
    private int _waiting;
    private long _readAt;

    /// <summary>Raised when the store is known to be ahead of the window: read it (<see cref="RefreshAsync"/>).</summary>
    public event Action? Behind;

    /// <summary>The position after which the window holds every change, up to <see cref="End"/>.</summary>
    public long Start
    {
        get
        {
            lock (_gate)
            {
                return _start;
            }
        }
    }

    /// <summary>The newest change this silo has read from the store.</summary>
    public long End
    {
        get
        {
            lock (_gate)
            {
                return _start + _rows.Count;
            }
        }
    }

    /// <summary>The newest change anyone told this silo of (the store's head is at least this, unless it went back).</summary>
    public long Known
    {
        get
        {
            lock (_gate)
            {
                return _known;
            }
        }
    }

    /// <summary>When the last read of the store began (<see cref="Environment.TickCount64"/>).</summary>
    public long ReadAt => Volatile.Read(ref _readAt);

    /// <summary>How many follow queries wait for a change now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Change <paramref name="seq"/> committed (a hint, the store's notice, or a follower's own read).</summary>
    public void Heard(long seq)
    {
        lock (_gate)
        {
            if (seq <= _known)
            {
                return;
            }

            _known = seq;
            if (seq <= _start + _rows.Count)
            {
                return;
            }
        }

        Behind?.Invoke();
    }

    /// <inheritdoc/>
    public void Observe(long head) => Heard(head);

    /// <summary>
    /// True when a follower at <paramref name="seq"/> has something to do: the window has newer changes, or this
    /// silo no longer expects the store to reach <paramref name="seq"/> (its head went back).
    /// </summary>
    public bool HasChangeAfter(long seq)
    {
        lock (_gate)
        {
            return _start + _rows.Count > seq || _known < seq;
        }
    }

    /// <inheritdoc/>
    /// <remarks>Every follower waits here after every change: its state machine comes from a pool, not the heap.</remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WaitForChangeAfterAsync(long seq, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            while (true)
            {
                Task moved;
                lock (_gate)
                {
                    if (_start + _rows.Count > seq || _known < seq)
                    {
                        return;
                    }

                    moved = _moved.Task;
                }

                await moved.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    /// <inheritdoc/>
    public bool TryTake(long after, List<ChangeRow> rows, int max)
    {
        lock (_gate)
        {
            if (after < _start || after > _start + _rows.Count)
            {
                return false;
            }

            for (var i = (int)(after - _start); i < _rows.Count && rows.Count < max; i++)
            {
                rows.Add(_rows[i]);
            }

            return true;
        }
    }

    /// <summary>
    /// Reads the store's change log once and appends what is new, page by page, waking the waiting followers after
    /// each page. A head lower than what this silo knew means the store was re-created or restored: the window is
    /// emptied at the new head and every follower woken, to find out from the store itself (a reset).
    /// </summary>
    /// <returns>The head this silo knew and the one read, when the head went back; otherwise null.</returns>
    public async Task<(long Known, long Head)?> RefreshAsync(CancellationToken cancellationToken = default)
    {
        long known, end;
        lock (_gate)
        {
            (known, end) = (_known, _start + _rows.Count);
        }

        Volatile.Write(ref _readAt, Environment.TickCount64);
        (long Known, long Head)? wentBack = null;
        await store.ReadFeedChangesAsync(feed =>
        {
            if (feed.Head >= known)
            {
                // Older rows than the window could keep are not worth reading; what the log no longer has cannot be.
                return Math.Max(end, Math.Max(feed.Horizon, feed.Head - maxRows));
            }

            wentBack = (known, feed.Head);
            Move(() =>
            {
                StartOver(feed.Head);
                _known = feed.Head;
            });
            return null;
        }, Append, cancellationToken);
        return wentBack;
    }

    private void Append(IReadOnlyList<ChangeRow> rows) => Move(() =>
    {
        foreach (var row in rows)
        {
            if (row.Seq != _start + _rows.Count + 1)
            {
                // Not the next change: the read skipped what was too old to keep, or the log pruned it meanwhile.
                // Followers behind this row read the store.
                StartOver(row.Seq - 1);
            }

            _rows.Add(row);
            _bytes += PageBudget.Size(row.Title, row.Description);
            _known = Math.Max(_known, row.Seq);
        }

        var drop = 0;
        for (; drop < _rows.Count - 1 && (_rows.Count - drop > maxRows || _bytes > maxBytes); drop++)
        {
            _bytes -= PageBudget.Size(_rows[drop].Title, _rows[drop].Description);
        }

        _rows.RemoveRange(0, drop);
        _start += drop;
    });

    private void StartOver(long at)
    {
        _rows.Clear();
        (_bytes, _start) = (0, at);
    }

    // Changes the window under its lock, then wakes every waiting follower (outside it, each as a thread-pool work item).
    private void Move(Action change)
    {
        TaskCompletionSource moved;
        lock (_gate)
        {
            change();
            (moved, _moved) = (_moved, NewSignal());
        }

        moved.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
