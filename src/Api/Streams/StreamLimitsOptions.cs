using System.ComponentModel.DataAnnotations;

namespace TaskStream.Api;

/// <summary>Settings under <c>TaskStream:Limits</c> that protect the silo from too many or too slow clients.</summary>
internal sealed class StreamLimitsOptions
{
    public const string Section = "TaskStream:Limits";

    /// <summary>
    /// Concurrent SSE streams this silo relays; more get 503. The <c>idle</c> benchmark holds 10,000 at about
    /// 20 KB each with a time to first event under 100 ms, and each stream is a socket (file descriptor).
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
}
