using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// Lends out TaskQuery grains so their activations are reused rather than created and collected for every
/// request: that churn, not the query, was most of a short stream's cost. A grain is lent to one request
/// at a time and comes back only after its query ran to its end and its enumeration was disposed, so an
/// activation still runs exactly one query at a time, on a connection it opened for that query. Every other
/// grain is released as its enumeration is disposed (<see cref="ITaskQueryGrain.ReleaseAsync"/>), so this silo's
/// requests leave at most <c>PoolSize</c> idle activations behind, however they end. <c>PoolSize = 0</c> gives
/// every request a new grain.
/// </summary>
internal sealed class QueryGrainPool(IGrainFactory grains, IOptions<QueryGrainPoolOptions> options)
{
    // References, not keys: GetGrain resolves the interface type by reflection on every call.
    private readonly ConcurrentQueue<ITaskQueryGrain> _idle = new();
    private readonly int _capacity = options.Value.PoolSize;
    private int _idleCount;

    public QueryGrainLease Rent()
    {
        if (_idle.TryDequeue(out var grain))
        {
            Interlocked.Decrement(ref _idleCount);
        }
        else
        {
            grain = grains.GetGrain<ITaskQueryGrain>(Guid.NewGuid());
        }

        return new QueryGrainLease(this, grain);
    }

    /// <summary>Runs a query to its end on a lent grain and returns its tasks.</summary>
    public async Task<List<TaskItem>> ReadTasksAsync(TaskQuery query, int batchSize, CancellationToken cancellationToken)
    {
        var tasks = new List<TaskItem>(Math.Min(query.Limit ?? 16, 1024));
        var lease = Rent();
        var results = lease.Grain.QueryAsync(query, lease.Id).WithBatchSize(batchSize).GetAsyncEnumerator(cancellationToken);
        var ranToEnd = false;
        try
        {
            while (await results.MoveNextAsync())
            {
                if (results.Current is TaskItem task)
                {
                    tasks.Add(task);
                }
            }

            ranToEnd = true;
        }
        finally
        {
            await lease.EndAsync(results, ranToEnd, exhausted: ranToEnd);
        }

        return tasks;
    }

    /// <summary>Takes a place for a grain about to come back; false when the pool is full.</summary>
    internal bool TryReserve()
    {
        if (Interlocked.Increment(ref _idleCount) <= _capacity)
        {
            return true;
        }

        Interlocked.Decrement(ref _idleCount);
        return false;
    }

    internal void Return(ITaskQueryGrain grain) => _idle.Enqueue(grain);
}

/// <summary>One request's grain. <see cref="EndAsync"/> ends its query, however the query went.</summary>
internal sealed class QueryGrainLease(QueryGrainPool pool, ITaskQueryGrain grain)
{
    public ITaskQueryGrain Grain { get; } = grain;

    /// <summary>This request's name for its use of the grain, which the grain is released under.</summary>
    public Guid Id { get; } = Guid.NewGuid();

    /// <summary>
    /// Disposes the query's enumeration, which returns once the grain has disposed its iterator. A grain whose
    /// query ran to its end goes back to the pool if there is room. Any other (cancelled or failed: its cleanup
    /// may still be running, or its silo may be gone) is told to deactivate instead of idling until Orleans
    /// collects it: released after its Dispose call, since that call would activate a grain deactivated before it.
    /// </summary>
    /// <param name="exhausted">
    /// MoveNextAsync() returned false. The grain had then already removed and disposed its enumerator (it answers
    /// Completed only after that), so the proxy's DisposeAsync would be one more grain call that finds nothing; it is
    /// skipped, which leaks nothing: the proxy holds a CancellationTokenSource only when the grain call got a token of
    /// its own (QueryAsync gets none).
    /// </param>
    public async ValueTask EndAsync(IAsyncEnumerator<TaskQueryEvent> results, bool ranToEnd, bool exhausted)
    {
        if (!exhausted)
        {
            await results.DisposeAsync(); // never throws: Orleans' proxy keeps its own failures
        }

        if (ranToEnd && pool.TryReserve())
        {
            pool.Return(Grain);
            return;
        }

        try
        {
            await Grain.ReleaseAsync(Id);
        }
        catch (Exception)
        {
            // Its silo is gone or going, or the call timed out. The request has ended as it ended; the activation, if
            // there still is one, idles until Orleans collects it, as any idle activation does.
        }
    }
}

/// <summary>Settings under <c>TaskStream:Grains</c>.</summary>
internal sealed class QueryGrainPoolOptions
{
    public const string Section = "TaskStream:Grains";

    /// <summary>Idle query grains each silo keeps for reuse; 0 = a new grain (and activation) per request.</summary>
    [System.ComponentModel.DataAnnotations.Range(0, 1_000_000)]
    public int PoolSize { get; set; } = 1024;
}
