using System.Runtime.CompilerServices;
using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <inheritdoc cref="ITaskQueryGrain"/>
/// <remarks>Placed on the silo that relays its query, or at random (<see cref="QueryPlacementDirector"/>).</remarks>
[QueryPlacement]
internal sealed class TaskQueryGrain(TaskStore store, ChangeFeed changes, TaskStreamMetrics metrics, ILocalSiloDetails silo) : Grain, ITaskQueryGrain
{
    // Orleans runs an iterator's enumeration calls always-interleaved, so the grain's own turn-based concurrency would not stop a
    // second query from starting beside the first. Callers lend a grain to one query at a time; this checks it.
    private bool _running;
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
        TaskQuery query, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (_running)
        {
            throw new InvalidOperationException("A TaskQuery grain runs one query at a time.");
        }

        _running = true;
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
}
