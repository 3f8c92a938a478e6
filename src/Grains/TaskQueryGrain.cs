using System.Runtime.CompilerServices;
using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <inheritdoc cref="ITaskQueryGrain"/>
/// <remarks>Placed on the silo that relays its query, or at random (<see cref="QueryPlacementDirector"/>).</remarks>
[QueryPlacement]
internal sealed class TaskQueryGrain(TaskStore store, ChangeFeed changes, TaskStreamMetrics metrics, ILocalSiloDetails silo) : Grain, ITaskQueryGrain
{
    // How long a release that overtook its query's start waits for that start; the caller sent both at once.
    private static readonly TimeSpan LateStartGrace = TimeSpan.FromSeconds(5);

    private static readonly DeactivationReason NotReused =
        new(DeactivationReasonCode.ApplicationRequested, "Its caller disposed its query and will not reuse it.");

    // Orleans runs an iterator's enumeration calls always-interleaved, so the grain's own turn-based concurrency would not stop a
    // second query from starting beside the first. Callers lend a grain to one query at a time; this checks it.
    private bool _running;
    private Guid _started; // the lease of the query that started here last
    private Guid _releasedEarly; // a lease released before its query started here: that start is refused
    private readonly string _silo = silo.SiloAddress.ToString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        metrics.QueryGrainActivated();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.QueryGrainDeactivated();
        return Task.CompletedTask;
    }

    // [EnumeratorCancellation] is what lets the caller's cancellation reach this iterator;
    // a plain token parameter would never be cancelled here.
    public async IAsyncEnumerable<TaskQueryEvent> QueryAsync(
        TaskQuery query, Guid lease = default, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (lease != Guid.Empty && lease == _releasedEarly)
        {
            // Its caller gave up before this start came, and will neither read nor dispose it. The release's timer
            // deactivates the grain (deactivating from inside the enumeration call that starts a query stalls it).
            yield break;
        }

        if (_running)
        {
            throw new InvalidOperationException("A TaskQuery grain runs one query at a time.");
        }

        (_running, _started) = (true, lease);
        metrics.QueryStarted();
        try
        {
            // Connections are opened here, by this query, one per page read (never in OnActivateAsync, and
            // never handed in): no connection outlives the page it read or is seen by another query.
            IAsyncEnumerable<TaskQueryEvent> events = query.Follow
                ? store.FollowAsync(query, _silo, changes.Window, cancellationToken)
                : store.QueryAsync(query, cancellationToken);
            await foreach (var item in events)
            {
                if (item is FollowingLive)
                {
                    // `live` goes in a batch of its own (a batch never spans an await). The caller's proxy holds its
                    // last batch while its next MoveNext waits for a change, so a waiting follower then keeps one small
                    // event referenced instead of its whole snapshot. Once per follow, a grain call more.
                    await Task.Yield();
                }

                yield return item;
            }
        }
        finally
        {
            _running = false;
            metrics.QueryEnded();
        }

        yield return new QueryCompleted(_silo);
    }

    // Deactivation waits until the activation is idle, so a cleanup still running in an interleaved enumeration call
    // finishes first. It comes from the caller after its Dispose call, not from the iterator's finally: that call comes
    // after the iterator has ended, and would activate the grain again.
    public Task ReleaseAsync(Guid lease)
    {
        if (lease == _started)
        {
            GrainContext.Deactivate(NotReused);
            return Task.CompletedTask;
        }

        // Its query has not started here (the caller gave up while the start was on its way, or never sent it): refuse
        // it if it comes, and deactivate unless another query has started meanwhile.
        _releasedEarly = lease;
        this.RegisterGrainTimer(static (state, _) =>
            {
                if (state.Grain._started == state.StartedBefore)
                {
                    state.Grain.GrainContext.Deactivate(NotReused);
                }

                return Task.CompletedTask;
            },
            (Grain: this, StartedBefore: _started),
            new GrainTimerCreationOptions(LateStartGrace, Timeout.InfiniteTimeSpan) { KeepAlive = false });
        return Task.CompletedTask;
    }
}
