using Dapper;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Streams;
using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <summary>
/// Tells this silo's follow queries that the store has changes they have not read. It learns of changes from
/// writes anywhere in the cluster through an Orleans stream (one hint per write: its sequence number), and,
/// because a hint can be lost (a silo holding the stream's queue or subscriptions dies), from the store itself:
/// while anyone waits, it reads the newest sequence number every <c>FollowCheckMs</c>. The store is the log;
/// hints only make followers look sooner. Waiting followers cost a task each, not a thread or a query.
/// </summary>
public sealed partial class ChangeFeed(
    IClusterClient client, TaskDatabase database, IClusterMembershipService membership,
    IOptions<StreamingOptions> options, ILogger<ChangeFeed> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>The Orleans stream provider that carries change hints between silos.</summary>
    public const string StreamProvider = "TaskChanges";

    private static readonly StreamId Stream = StreamId.Create("taskstream", "changes");

    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _changed = NewSignal();
    private long _latest;
    private int _waiters;
    private StreamSubscriptionHandle<long>? _subscription;

    /// <summary>The newest change sequence number this silo knows of.</summary>
    public long Latest => Volatile.Read(ref _latest);

    /// <summary>Completes once a change after <paramref name="seq"/> is known to exist (or may exist).</summary>
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
                    if (_latest > seq)
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
            await client.GetStreamProvider(StreamProvider).GetStream<long>(Stream).OnNextAsync(seq);
        }
        catch (Exception exception)
        {
            // The write is committed; other silos' followers will find it at their next check of the store.
            LogHintLost(logger, seq, exception);
        }
    }

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

    // Continuations run on their own grain schedulers, never inline in the thread that advanced the feed.
    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(ChangeFeed), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        await SubscribeAsync();
        _ = CheckStoreAsync(_stopping.Token);
        _ = ResubscribeOnSiloLossAsync(_stopping.Token);
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
                LogUnsubscribeFailed(logger, exception); // its record was likely on the silo that left
            }
        }

        try
        {
            _subscription = await client.GetStreamProvider(StreamProvider).GetStream<long>(Stream)
                .SubscribeAsync((seq, _) =>
                {
                    Advance(seq);
                    return Task.CompletedTask;
                });
        }
        catch (Exception exception)
        {
            // Followers still see every change, at the next check of the store.
            _subscription = null;
            LogSubscribeFailed(logger, exception);
        }
    }

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
                    await using var connection = await database.OpenConnectionAsync(cancellationToken);
                    Advance(await connection.ExecuteScalarAsync<long>(new CommandDefinition(TaskStore.HeadSql, cancellationToken: cancellationToken)));
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

    // The memory stream provider keeps subscriptions in one silo's memory: when a silo leaves, subscribe again
    // (a no-op if ours survived elsewhere, a repair if it was lost with that silo).
    private async Task ResubscribeOnSiloLossAsync(CancellationToken cancellationToken)
    {
        try
        {
            var active = membership.CurrentSnapshot.Members.Count(m => m.Value.Status == SiloStatus.Active);
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cancellationToken))
            {
                var now = snapshot.Members.Count(m => m.Value.Status == SiloStatus.Active);
                if (now < active)
                {
                    await SubscribeAsync();
                }

                active = now;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not hint other silos of change {Seq}; their followers will find it at their next check of the store")]
    private static partial void LogHintLost(ILogger logger, long seq, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not subscribe to change hints; followers on this silo will see changes at each check of the store")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not remove the previous change-hint subscription")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the newest change sequence number")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
