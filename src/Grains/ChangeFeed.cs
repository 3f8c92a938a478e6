using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Streams;
using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <summary>
/// What the change-hint stream carries: a committed change's sequence number, or (with <paramref name="Probe"/>
/// set, <paramref name="Seq"/> 0) a silo checking that its own subscription still receives.
/// </summary>
[GenerateSerializer, Immutable, Alias("TaskStream.ChangeHint")]
public sealed record ChangeHint([property: Id(0)] long Seq, [property: Id(1)] Guid Probe = default);

/// <summary>
/// Tells this silo's follow queries that the store has changes they have not read. The store is the log and the
/// only source of truth; this only decides when followers look. It learns of changes from the store itself — on
/// PostgreSQL through LISTEN/NOTIFY (the triggers announce every commit), on SQLite by asking a connection of its
/// own every <c>StorePollMs</c> whether anyone committed (<c>PRAGMA data_version</c>) — so writes by any program
/// reach followers; and, sooner, from writes made through this cluster's API: at once on the writing silo, and
/// through an Orleans stream (one hint per write) on the others. While anyone follows it also reads the head every
/// <c>FollowCheckMs</c>, in case a notification was lost. A head that went backwards (the store was re-created or
/// restored) is logged and wakes every follower, which then starts over with a fresh snapshot.
/// Memory streams keep subscriptions in grain memory, and a subscription can be lost when silos join or leave
/// (a silo's subscription made before a second silo joined was seen receiving nothing after it). So each silo
/// checks its own: after every membership change and every <c>HintCheckSeconds</c> it sends itself a probe
/// through the stream and subscribes again if the probe does not come back.
/// </summary>
public sealed partial class ChangeFeed(
    IClusterClient client, TaskDatabase database, IClusterMembershipService membership,
    IOptions<StreamingOptions> options, ILogger<ChangeFeed> logger) : ILifecycleParticipant<ISiloLifecycle>, IChangeSignal
{
    /// <summary>The Orleans stream provider that carries change hints between silos.</summary>
    public const string StreamProvider = "TaskChanges";

    private static readonly StreamId Stream = StreamId.Create("taskstream", "changes");

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _changed = NewSignal();
    private long _latest;
    private int _waiters;
    private readonly SemaphoreSlim _recheck = new(0);
    private StreamSubscriptionHandle<ChangeHint>? _subscription;
    private PendingProbe? _probe;

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
    public async Task PublishAsync(long seq)
    {
        Advance(seq);
        try
        {
            await HintStream.OnNextAsync(new ChangeHint(seq));
        }
        catch (Exception exception)
        {
            // The write is committed; other silos' followers will find it at their next check of the store.
            LogHintLost(logger, seq, exception);
        }
    }

    private IAsyncStream<ChangeHint> HintStream => client.GetStreamProvider(StreamProvider).GetStream<ChangeHint>(Stream);

    private Task OnHintAsync(ChangeHint hint, StreamSequenceToken? token)
    {
        if (hint.Probe == Guid.Empty)
        {
            Advance(hint.Seq);
        }
        else if (Volatile.Read(ref _probe) is { } probe && probe.Id == hint.Probe)
        {
            probe.Arrived.TrySetResult();
        }

        return Task.CompletedTask;
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

        LogHeadWentBack(logger, known, head);
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
        await SubscribeAsync();
        _ = CheckStoreAsync(_stopping.Token);
        _ = WatchStoreAsync(_stopping.Token);
        _ = CheckHintsAsync(_stopping.Token);
        _ = RecheckOnMembershipChangeAsync(_stopping.Token);
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_subscription is { } subscription)
        {
            try
            {
                await subscription.UnsubscribeAsync();
            }
            catch (Exception exception)
            {
                LogUnsubscribeFailed(logger, exception);
            }
        }
    }

    private async Task SubscribeAsync()
    {
        var previous = _subscription;
        if (previous is not null)
        {
            try
            {
                await previous.UnsubscribeAsync();
            }
            catch (Exception exception)
            {
                LogUnsubscribeFailed(logger, exception); // its record was likely lost already
            }
        }

        try
        {
            _subscription = await HintStream.SubscribeAsync(OnHintAsync);
        }
        catch (Exception exception)
        {
            // Followers still see every change, at the next check of the store.
            _subscription = null;
            LogSubscribeFailed(logger, exception);
        }
    }

    private async Task ReadHeadAsync(CancellationToken cancellationToken)
    {
        var known = Latest;
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        OnHeadRead(known, (await database.ReadFeedAsync(connection, cancellationToken)).Head);
    }

    /// <summary>While anyone follows, reads the head every <c>FollowCheckMs</c>: the bound on a lost notification.</summary>
    private async Task CheckStoreAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.FollowCheckMs));
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
                    LogCheckFailed(logger, exception);
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
            await database.Initialized.WaitAsync(cancellationToken);
        }
        catch (Exception)
        {
            return; // the host stops (a store that fails at start stops it) or is stopping
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var watch = await database.OpenWatchAsync(cancellationToken);
                await ReadHeadAsync(cancellationToken); // what committed while not watching
                while (true)
                {
                    if (await watch.WaitAsync(TimeSpan.FromMilliseconds(options.Value.StorePollMs), cancellationToken) is { } announced)
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
                LogWatchFailed(logger, exception);
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

    /// <summary>
    /// Sends this silo a probe through the hint stream after every membership change (once the cluster had a
    /// moment to settle) and every <c>HintCheckSeconds</c>; subscribes again when it does not come back.
    /// </summary>
    private async Task CheckHintsAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromSeconds(options.Value.HintCheckSeconds);
        var settle = TimeSpan.FromSeconds(1);
        try
        {
            while (true)
            {
                if (await _recheck.WaitAsync(period, cancellationToken))
                {
                    await Task.Delay(settle, cancellationToken);
                    while (_recheck.CurrentCount > 0)
                    {
                        await _recheck.WaitAsync(cancellationToken); // changes that came meanwhile: one check covers them
                    }
                }

                while (!await ProbeAsync(cancellationToken))
                {
                    LogHintsLost(logger);
                    await SubscribeAsync();
                    await Task.Delay(settle, cancellationToken);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task<bool> ProbeAsync(CancellationToken cancellationToken)
    {
        var probe = new PendingProbe(Guid.NewGuid(), new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        Volatile.Write(ref _probe, probe);
        try
        {
            await HintStream.OnNextAsync(new ChangeHint(0, probe.Id));
            await probe.Arrived.Task.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return true;
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private sealed record PendingProbe(Guid Id, TaskCompletionSource Arrived);

    private async Task RecheckOnMembershipChangeAsync(CancellationToken cancellationToken)
    {
        try
        {
            var active = ActiveSilos(membership.CurrentSnapshot);
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cancellationToken))
            {
                var now = ActiveSilos(snapshot);
                if (!now.SetEquals(active))
                {
                    _recheck.Release();
                }

                active = now;
            }
        }
        catch (OperationCanceledException)
        {
        }

        static HashSet<SiloAddress> ActiveSilos(ClusterMembershipSnapshot snapshot) =>
            snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToHashSet();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not hint other silos of change {Seq}; their followers will find it at their next check of the store")]
    private static partial void LogHintLost(ILogger logger, long seq, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not subscribe to change hints; followers on this silo will see changes at each check of the store")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This silo's change-hint subscription did not deliver its probe; subscribing again (followers here see changes at each check of the store meanwhile)")]
    private static partial void LogHintsLost(ILogger logger);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not remove the previous change-hint subscription")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The task store's newest change went back from {Known} to {Head}: it was re-created or restored. Followers start over with a fresh snapshot")]
    private static partial void LogHeadWentBack(ILogger logger, long known, long head);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the watch on the task store's changes; watching again in a second (followers see changes at each check of the store meanwhile)")]
    private static partial void LogWatchFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the newest change sequence number")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
