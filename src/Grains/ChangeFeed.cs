using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <summary>
/// Tells this silo's follow queries that the store has changes they have not read. The store is the log and the
/// only source of truth; this only decides when followers look. It learns of changes from the store itself — on
/// PostgreSQL through LISTEN/NOTIFY (the triggers announce every commit), on SQLite by asking a connection of its
/// own every <c>StorePollMs</c> whether anyone committed (<c>PRAGMA data_version</c>) — so writes by any program
/// reach followers; and, sooner, from writes made through this cluster's API: at once on the writing silo, and
/// through an Orleans stream (one hint per write) on the others. While anyone follows it also reads the head every
/// <c>FollowCheckMs</c>, in case a notification was lost. A head that went backwards (the store was re-created or
/// restored) is logged and wakes every follower, which then starts over with a fresh snapshot.
/// </summary>
internal sealed partial class ChangeFeed : ILifecycleParticipant<ISiloLifecycle>, IChangeSignal
{
    private readonly TaskStore _store;
    private readonly ChangeHints _hints;
    private readonly IOptions<ChangeFeedOptions> _options;
    private readonly ILogger<ChangeFeed> _logger;

    public ChangeFeed(TaskStore store, ChangeHints hints, IOptions<ChangeFeedOptions> options, ILogger<ChangeFeed> logger)
    {
        (_store, _hints, _options, _logger) = (store, hints, options, logger);
        hints.Heard += Advance;
    }

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _changed = NewSignal();
    private long _latest;
    private int _waiters;

    /// <summary>The newest change sequence number this silo knows of.</summary>
    public long Latest => Volatile.Read(ref _latest);

    /// <inheritdoc/>
    public async Task WaitForChangeAfterAsync(long seq, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiters);
        try
        {
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    if (_latest != seq)
                    {
                        return;
                    }

                    changed = _changed.Task;
                }

                await changed.WaitAsync(cancellationToken);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }

    /// <summary>Called after a write committed: wakes this silo's followers at once and hints every other silo.</summary>
    public Task PublishAsync(long seq)
    {
        Advance(seq);
        return _hints.PublishAsync(seq);
    }

    /// <inheritdoc/>
    public void Observe(long head) => Advance(head);

    private void Advance(long seq)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            if (seq <= _latest)
            {
                return;
            }

            _latest = seq;
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
    }

    // The store's head, read when the store said it changed or on the periodic check. Lower than what was known
    // before the read began means the store went back; anything else only moves forward.
    private void OnHeadRead(long known, long head)
    {
        if (head >= known)
        {
            Advance(head);
            return;
        }

        LogHeadWentBack(_logger, known, head);
        TaskCompletionSource changed;
        lock (_gate)
        {
            _latest = head;
            changed = _changed;
            _changed = NewSignal();
        }

        changed.TrySetResult();
    }

    // Continuations run on their own grain schedulers, never inline in the thread that advanced the feed.
    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(ChangeFeed), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        await _hints.StartAsync();
        _ = CheckStoreAsync(_stopping.Token);
        _ = WatchStoreAsync(_stopping.Token);
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _hints.StopAsync();
    }

    private async Task ReadHeadAsync(CancellationToken cancellationToken)
    {
        var known = Latest;
        OnHeadRead(known, await _store.ReadHeadAsync(cancellationToken));
    }

    /// <summary>While anyone follows, reads the head every <c>FollowCheckMs</c>: the bound on a lost notification.</summary>
    private async Task CheckStoreAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.Value.FollowCheckMs));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                if (Volatile.Read(ref _waiters) == 0)
                {
                    continue;
                }

                try
                {
                    await ReadHeadAsync(cancellationToken);
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    LogCheckFailed(_logger, exception);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Learns of every commit to the store, by anyone, for as long as the silo runs.</summary>
    private async Task WatchStoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _store.Initialized.WaitAsync(cancellationToken);
        }
        catch (Exception)
        {
            return; // the host stops (a store that fails at start stops it) or is stopping
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var watch = await _store.OpenWatchAsync(cancellationToken);
                await ReadHeadAsync(cancellationToken); // what committed while not watching
                while (true)
                {
                    if (await watch.WaitAsync(TimeSpan.FromMilliseconds(_options.Value.StorePollMs), cancellationToken) is { } announced)
                    {
                        Advance(announced);
                    }
                    else
                    {
                        await ReadHeadAsync(cancellationToken);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                LogWatchFailed(_logger, exception);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The task store's newest change went back from {Known} to {Head}: it was re-created or restored. Followers start over with a fresh snapshot")]
    private static partial void LogHeadWentBack(ILogger logger, long known, long head);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the watch on the task store's changes; watching again in a second (followers see changes at each check of the store meanwhile)")]
    private static partial void LogWatchFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the newest change sequence number")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
