namespace TaskStream.Client;

/// <summary>How a <see cref="TaskStreamClient"/> reaches the server and how long it keeps trying.</summary>
public sealed class TaskStreamClientOptions
{
    /// <summary>
    /// The silos (or balancers) to use, in order of preference. Empty: the <see cref="HttpClient.BaseAddress"/>.
    /// When one cannot be reached, or answers 500, 502, 503 or 504, the client moves on to the next one and stays
    /// there (a silo killed under a stream is left for another by itself); with a single address it retries
    /// that one.
    /// </summary>
    public IList<Uri> BaseAddresses { get; init; } = [];

    /// <summary>Sent as <c>Authorization: Bearer …</c> with every write; the server's <c>TaskStream:Auth:WriteTokens</c>.</summary>
    public string? WriteToken { get; init; }

    /// <summary>
    /// How often in a row a request, or a stream's reconnect, is tried again after a failure (no answer, a
    /// dropped stream, 429, 500, 502, 503, 504) before its error is thrown. A stream that received an event starts
    /// counting again. <see cref="int.MaxValue"/>: never give up.
    /// </summary>
    public int MaxRetries { get; init; } = 10;

    /// <summary>
    /// The wait before trying again when the server has said nothing else: a stream's <c>retry:</c> and an
    /// answer's <c>Retry-After</c> take its place.
    /// </summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A stream on which nothing arrives for this long, not even the server's heartbeat comment (sent after
    /// <c>TaskStream:Streaming:HeartbeatSeconds</c> of quiet, 15 s by default), is dropped and resumed: a server whose
    /// machine vanished sends no reset. Keep it above the heartbeat; <see cref="Timeout.InfiniteTimeSpan"/> turns it off.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(45);
}
