namespace TaskStream.Api;

/// <summary>The response and request headers TaskStream defines or gives a meaning of its own, named once.</summary>
internal static class TaskStreamHeaders
{
    /// <summary>A write's change sequence number, the position a follow stream reports the change at.</summary>
    public const string Seq = "X-TaskStream-Seq";

    /// <summary>The silo that relays a stream.</summary>
    public const string Silo = "X-TaskStream-Silo";

    /// <summary>A write's idempotency key (<see cref="IdempotencyKeyHeader"/>).</summary>
    public const string IdempotencyKey = "Idempotency-Key";

    /// <summary><c>true</c> on an answer replayed for a repeated idempotency key.</summary>
    public const string IdempotentReplayed = "Idempotent-Replayed";

    /// <summary>Tells nginx-style proxies not to buffer a stream.</summary>
    public const string AccelBuffering = "X-Accel-Buffering";
}
