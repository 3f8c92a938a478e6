using System.ComponentModel.DataAnnotations;

namespace TaskStream.Api;

/// <summary>Settings under <c>TaskStream:Limits</c> that protect the silo from too many or too slow stream clients.</summary>
public sealed class StreamLimitsOptions
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

    /// <summary>How long one send may wait for a client to make room (read) before the stream is dropped.</summary>
    [Range(1, 3600)]
    public int SendTimeoutSeconds { get; set; } = 30;

    /// <summary>The <c>Retry-After</c> of a refused stream.</summary>
    [Range(1, 3600)]
    public int RetryAfterSeconds { get; set; } = 5;
}
