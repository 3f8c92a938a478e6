using System.ComponentModel.DataAnnotations;
using System.Threading.RateLimiting;

namespace TaskStream.Api;

/// <summary>Settings under <c>TaskStream:Limits</c>: what protects the silo from too many or too slow clients.</summary>
internal sealed class LimitsOptions
{
    public const string Section = "TaskStream:Limits";

    /// <summary>
    /// Concurrent SSE streams this silo relays; more get 503. Each stream is a socket (file descriptor) and some
    /// memory (the <c>idle</c> benchmark, docs/benchmarks.md, measures it).
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxStreams { get; set; } = 10_000;

    /// <summary>Concurrent SSE streams one client address (an IPv6 /64) may hold on this silo; more get 429.</summary>
    [Range(1, 1_000_000)]
    public int MaxStreamsPerClient { get; set; } = 100;

    /// <summary>How long one send may wait for a client to make room (read) before a stream or list client is dropped.</summary>
    [Range(1, 3600)]
    public int SendTimeoutSeconds { get; set; } = 30;

    /// <summary>The <c>Retry-After</c> of a refused stream or read.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 5;

    /// <summary>
    /// Reads (<c>/tasks/list</c>, <c>GET /tasks/{id}</c>) this silo runs against the store at once. Each holds a
    /// pooled database connection while it reads a page; Npgsql's pool has 100, which streams share.
    /// </summary>
    [Range(1, 10_000)]
    public int MaxConcurrentReads { get; set; } = 32;

    /// <summary>Reads that may wait for one of <see cref="MaxConcurrentReads"/>; more get 503 at once.</summary>
    [Range(0, 100_000)]
    public int ReadQueueLength { get; set; } = 256;

    /// <summary>How long a queued read waits for its turn before it gets 503.</summary>
    [Range(1, 60_000)]
    public int ReadQueueTimeoutMs { get; set; } = 2000;

    /// <summary>Writes per second each client (write token, or address) may make, sustained; also dashboard password attempts.</summary>
    [Range(1, 1_000_000)]
    public int WritesPerSecond { get; set; } = 50;

    /// <summary>Writes a client may make at once before <see cref="WritesPerSecond"/> applies.</summary>
    [Range(1, 1_000_000)]
    public int WriteBurst { get; set; } = 100;

    /// <summary>One client's bucket of writes (or dashboard password attempts).</summary>
    internal TokenBucketRateLimiterOptions WriteBucket() => new()
    {
        TokenLimit = WriteBurst,
        TokensPerPeriod = WritesPerSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
    };
}
