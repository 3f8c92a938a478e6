using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <summary>
/// Keeps this silo's <see cref="ChangeWindow"/> up to date: when the store has changes the window has not read, it
/// reads them once, on a connection of its own, for every follow query of the silo. The store is the log and the
/// only source of truth; this only decides when to read it. It learns of changes from the store itself — on
/// PostgreSQL through LISTEN/NOTIFY (the triggers announce every commit), on SQLite by asking a connection of its
/// own every <c>StorePollMs</c> whether anyone committed (<c>PRAGMA data_version</c>) — so writes by any program
/// reach followers; and, sooner, from writes made through this cluster's API: at once on the writing silo, and
/// through an Orleans stream (one hint per write) on the others. While anyone follows it also reads the store every
/// <c>FollowCheckMs</c>, in case a notification was lost. A head that went backwards (the store was re-created or
/// restored) is logged and wakes every follower, which then starts over with a fresh snapshot.
/// </summary>
internal sealed partial class ChangeFeed : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly TaskStore _store;
    private readonly ChangeHints _hints;
    private readonly IOptions<ChangeFeedOptions> _options;
    private readonly ILogger<ChangeFeed> _logger;
    private readonly CancellationTokenSource _stopping = new();

    // At most one read waits while one runs: however many notices come meanwhile, that one read covers them all.
    private readonly Channel<bool> _reads = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public ChangeFeed(TaskStore store, ChangeHints hints, IOptions<ChangeFeedOptions> options, ILogger<ChangeFeed> logger)
    {
        (_store, _hints, _options, _logger) = (store, hints, options, logger);
        Window = new ChangeWindow(store, options.Value.FeedWindowRows, options.Value.FeedWindowBytes);
        Window.Behind += ReadStoreSoon;
        hints.Heard += Window.Heard;
    }

    /// <summary>The newest change rows, shared by this silo's follow queries.</summary>
    public ChangeWindow Window { get; }

    /// <summary>The newest change sequence number this silo has read.</summary>
    public long Latest => Window.End;

    /// <summary>Called after a write committed: has this silo read it at once and hints every other silo.</summary>
    public Task PublishAsync(long seq)
    {
        Window.Heard(seq);
        return _hints.PublishAsync(seq);
    }

    private void ReadStoreSoon() => _reads.Writer.TryWrite(true);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(ChangeFeed), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        await _hints.StartAsync();
        _ = ReadStoreAsync(_stopping.Token);
        _ = CheckStoreAsync(_stopping.Token);
        _ = WatchStoreAsync(_stopping.Token);
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _hints.StopAsync();
    }

    /// <summary>Reads the store into the window whenever asked to, one read at a time.</summary>
    private async Task ReadStoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var _ in _reads.Reader.ReadAllAsync(cancellationToken))
            {
                try
                {
                    if (await Window.RefreshAsync(cancellationToken) is { } back)
                    {
                        LogHeadWentBack(_logger, back.Known, back.Head);
                    }
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    LogReadFailed(_logger, exception); // the next notice or check reads again
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>While anyone follows, reads the store every <c>FollowCheckMs</c>: the bound on a lost notification.</summary>
    private async Task CheckStoreAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.Value.FollowCheckMs));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                // A read since the last tick (for a notice) covers what this one would have looked for.
                if (Window.Waiting > 0 && Environment.TickCount64 - Window.ReadAt >= _options.Value.FollowCheckMs)
                {
                    ReadStoreSoon();
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
                ReadStoreSoon(); // what committed while not watching
                while (true)
                {
                    var head = await watch.WaitAsync(TimeSpan.FromMilliseconds(_options.Value.StorePollMs), cancellationToken);
                    if (head < Window.Known)
                    {
                        ReadStoreSoon(); // lower than what this silo knows: the read finds out whether the store went back
                    }
                    else
                    {
                        Window.Heard(head); // reads the store only if the window has not read this far yet
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the task store's new changes; reading again at the next notice or check")]
    private static partial void LogReadFailed(ILogger logger, Exception exception);
}
