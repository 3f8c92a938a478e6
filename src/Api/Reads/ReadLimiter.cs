using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace TaskStream.Api;

/// <summary>
/// Bounds the reads this silo runs against the store at once (<c>/tasks/list</c>, <c>GET /tasks/{id}</c>):
/// <c>MaxConcurrentReads</c> run, up to <c>ReadQueueLength</c> more wait at most <c>ReadQueueTimeoutMs</c>, the rest
/// get 503 with <c>Retry-After</c>. Unbounded, a flood of reads took every pooled database connection (Npgsql
/// allows 100), so streams and the readiness check failed on a healthy silo. A permit covers the query only, not
/// the sending of its answer: a client that does not read holds no database work (<see cref="TimedResponseStream"/>).
/// </summary>
internal sealed class ReadLimiter : IDisposable
{
    private readonly ConcurrencyLimiter _limiter;
    private readonly LimitsOptions _limits;
    private readonly TimeSpan _queueTimeout;
    private readonly string _retryAfter;

    public ReadLimiter(IOptions<LimitsOptions> options)
    {
        _limits = options.Value;
        _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = _limits.MaxConcurrentReads,
            QueueLimit = _limits.ReadQueueLength,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        });
        _queueTimeout = TimeSpan.FromMilliseconds(_limits.ReadQueueTimeoutMs);
        _retryAfter = _limits.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>A permit to read, or one that is not <see cref="RateLimitLease.IsAcquired"/> when the silo is too busy.</summary>
    public async ValueTask<RateLimitLease> AcquireAsync(CancellationToken cancellationToken)
    {
        var permit = _limiter.AttemptAcquire();
        if (permit.IsAcquired)
        {
            return permit;
        }

        permit.Dispose();
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(_queueTimeout);
        try
        {
            return await _limiter.AcquireAsync(1, wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Refused.Instance; // waited ReadQueueTimeoutMs in the queue
        }
    }

    /// <summary>The answer to a read refused by <see cref="AcquireAsync"/>.</summary>
    public ProblemHttpResult Busy(HttpResponse response)
    {
        response.Headers.RetryAfter = _retryAfter;
        return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Too many reads on this silo",
            detail: $"This silo runs at most {_limits.MaxConcurrentReads} reads at once and queues {_limits.ReadQueueLength} more " +
                "(TaskStream:Limits:MaxConcurrentReads, ReadQueueLength). Retry after the Retry-After seconds, or ask another silo.");
    }

    public void Dispose() => _limiter.Dispose();

    private sealed class Refused : RateLimitLease
    {
        public static readonly Refused Instance = new();

        public override bool IsAcquired => false;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }
    }
}
