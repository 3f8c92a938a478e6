using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Streams;

namespace TaskStream.Grains;

/// <summary>
/// What the change-hint stream carries: a committed change's sequence number, or (with <paramref name="Probe"/>
/// set, <paramref name="Seq"/> 0) a silo checking that its own subscription still receives.
/// </summary>
[GenerateSerializer, Immutable, Alias("TaskStream.ChangeHint")]
internal sealed record ChangeHint([property: Id(0)] long Seq, [property: Id(1)] Guid Probe = default);

/// <summary>
/// Tells every silo at once of a write made through this cluster's API: one Orleans stream message (a hint) per
/// write, one subscription per silo. Only a hint: the store announces every commit too (<see cref="ChangeFeed"/>),
/// just later on SQLite. Memory streams keep subscriptions in grain memory, and a subscription can be lost when
/// silos join or leave (a silo's subscription made before a second silo joined was seen receiving nothing after
/// it). So each silo checks its own: after every membership change and every <c>HintCheckSeconds</c> it sends
/// itself a probe through the stream and subscribes again if the probe does not come back.
/// </summary>
internal sealed partial class ChangeHints(
    IClusterClient client, IClusterMembershipService membership, IOptions<ChangeFeedOptions> options, ILogger<ChangeHints> logger)
{
    /// <summary>The Orleans stream provider that carries change hints between silos.</summary>
    public const string StreamProvider = "TaskChanges";

    private static readonly StreamId Stream = StreamId.Create("taskstream", "changes");

    private readonly IOptions<ChangeFeedOptions> _options = options;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _recheck = new(0);
    private StreamSubscriptionHandle<ChangeHint>? _subscription;
    private PendingProbe? _probe;

    /// <summary>Raised with the sequence number of each hint heard, from any silo.</summary>
    public event Action<long>? Heard;

    /// <summary>Hints every silo (this one included) that change <paramref name="seq"/> committed.</summary>
    public async Task PublishAsync(long seq)
    {
        try
        {
            await HintStream.OnNextAsync(new ChangeHint(seq));
        }
        catch (Exception exception)
        {
            // The write is committed; other silos' followers will hear of it from the store.
            LogHintLost(logger, seq, exception);
        }
    }

    public async Task StartAsync()
    {
        await SubscribeAsync();
        _ = CheckHintsAsync(_stopping.Token);
        _ = RecheckOnMembershipChangeAsync(_stopping.Token);
    }

    public async Task StopAsync()
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

    private IAsyncStream<ChangeHint> HintStream => client.GetStreamProvider(StreamProvider).GetStream<ChangeHint>(Stream);

    private Task OnHintAsync(ChangeHint hint, StreamSequenceToken? token)
    {
        if (hint.Probe == Guid.Empty)
        {
            Heard?.Invoke(hint.Seq);
        }
        else if (Volatile.Read(ref _probe) is { } probe && probe.Id == hint.Probe)
        {
            probe.Arrived.TrySetResult();
        }

        return Task.CompletedTask;
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

    /// <summary>
    /// Sends this silo a probe through the hint stream after every membership change (once the cluster had a
    /// moment to settle) and every <c>HintCheckSeconds</c>; subscribes again when it does not come back.
    /// </summary>
    private async Task CheckHintsAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromSeconds(_options.Value.HintCheckSeconds);
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not hint other silos of change {Seq}; their followers will hear of it from the store")]
    private static partial void LogHintLost(ILogger logger, long seq, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not subscribe to change hints; followers on this silo hear of changes from the store only")]
    private static partial void LogSubscribeFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This silo's change-hint subscription did not deliver its probe; subscribing again (followers here hear of changes from the store meanwhile)")]
    private static partial void LogHintsLost(ILogger logger);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not remove the previous change-hint subscription")]
    private static partial void LogUnsubscribeFailed(ILogger logger, Exception exception);
}
