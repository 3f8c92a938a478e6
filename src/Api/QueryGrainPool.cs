using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// Lends out TaskQuery grains so their activations are reused rather than created and collected for every
/// request: that churn, not the query, was most of a short stream's cost. A grain is lent to one request
/// at a time and comes back only after its enumeration was disposed, so an activation still runs exactly one
/// query at a time, on a connection it opened for that query. <c>PoolSize = 0</c> gives every request a new grain.
/// </summary>
public sealed class QueryGrainPool(IGrainFactory grains, IOptions<QueryGrainPoolOptions> options)
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

    internal void Return(ITaskQueryGrain grain)
    {
        if (Interlocked.Increment(ref _idleCount) <= _capacity)
        {
            _idle.Enqueue(grain);
        }
        else
        {
            Interlocked.Decrement(ref _idleCount); // full: the activation is collected when it has been idle long enough
        }
    }
}

/// <summary>
/// One request's grain. <see cref="Release"/> it once the enumeration has been disposed; a grain whose
/// query failed is not released, as its silo may be gone.
/// </summary>
public sealed class QueryGrainLease(QueryGrainPool pool, ITaskQueryGrain grain)
{
    private int _released;

    public ITaskQueryGrain Grain { get; } = grain;

    public void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            pool.Return(Grain);
        }
    }
}

/// <summary>Settings under <c>TaskStream:Grains</c>.</summary>
public sealed class QueryGrainPoolOptions
{
    public const string Section = "TaskStream:Grains";

    /// <summary>Idle query grains each silo keeps for reuse; 0 = a new grain (and activation) per request.</summary>
    [System.ComponentModel.DataAnnotations.Range(0, 1_000_000)]
    public int PoolSize { get; set; } = 1024;
}
