using System.Threading.RateLimiting;

namespace TaskStream.Api;

/// <summary>Which cap refused a stream.</summary>
internal enum StreamCap
{
    /// <summary><c>TaskStream:Limits:MaxStreams</c>: the silo is full (503).</summary>
    Silo,

    /// <summary><c>TaskStream:Limits:MaxStreamsPerClient</c>: this client holds enough streams (429).</summary>
    Client,
}

/// <summary>
/// One client's stream slots: a permit from the client's own <see cref="ConcurrencyLimiter"/> and one from the
/// silo's, which every client shares. The rate-limiting middleware holds the lease until the response has ended,
/// so a permit is held for the whole stream. Nothing queues: a refused client retries after Retry-After.
/// </summary>
internal sealed class StreamSlotLimiter(ConcurrencyLimiter silo, ConcurrencyLimiter client) : RateLimiter
{
    // Idle once this client holds no stream: the middleware then disposes this client's limiter in time.
    public override TimeSpan? IdleDuration => client.IdleDuration;

    public override RateLimiterStatistics? GetStatistics() => client.GetStatistics();

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        // The client's own cap first: a client over it is told so (429), even when the silo is full as well.
        var clientLease = client.AttemptAcquire(permitCount);
        if (!clientLease.IsAcquired)
        {
            clientLease.Dispose();
            return new StreamRefusal(StreamCap.Client);
        }

        var siloLease = silo.AttemptAcquire(permitCount);
        if (!siloLease.IsAcquired)
        {
            siloLease.Dispose();
            clientLease.Dispose();
            return new StreamRefusal(StreamCap.Silo);
        }

        return new StreamSlot(clientLease, siloLease);
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AttemptAcquireCore(permitCount));

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            client.Dispose(); // the silo's limiter is shared and outlives this client's
        }

        base.Dispose(disposing);
    }

    private sealed class StreamSlot(RateLimitLease client, RateLimitLease silo) : RateLimitLease
    {
        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                silo.Dispose();
                client.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>A refused stream, and the cap that refused it.</summary>
internal sealed class StreamRefusal(StreamCap cap) : RateLimitLease
{
    public StreamCap Cap { get; } = cap;

    public override bool IsAcquired => false;

    public override IEnumerable<string> MetadataNames => [];

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        metadata = null;
        return false;
    }
}
