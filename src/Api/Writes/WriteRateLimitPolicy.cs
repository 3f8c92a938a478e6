using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace TaskStream.Api;

/// <summary>
/// Caps writes per client with a token bucket: <c>WritesPerSecond</c> sustained, <c>WriteBurst</c> at once.
/// A client is its write token when it presents a configured one, else its address (<see cref="ClientAddress"/>):
/// a made-up token buys no bucket of its own, so guessing tokens is limited per address. Refused requests count too.
/// </summary>
internal sealed class WriteRateLimitPolicy(WriteTokens tokens, IOptions<WriteLimitOptions> options) : IRateLimiterPolicy<string>
{
    public const string Name = "writes";

    private readonly TokenBucketRateLimiterOptions _bucket = options.Value.Bucket();

    public RateLimitPartition<string> GetPartition(HttpContext httpContext)
    {
        var token = tokens.Match(httpContext);
        var client = token >= 0 ? $"token:{token}" : $"address:{ClientAddress.Key(httpContext)}";
        return RateLimitPartition.GetTokenBucketLimiter(client, _ => _bucket);
    }

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; } = RejectAsync;

    private static ValueTask RejectAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        TaskWriteBody.CloseConnectionIfBodyMayNotDrain(context.HttpContext);
        return new ValueTask(TooManyAsync(context.HttpContext, context.Lease, "writes"));
    }

    /// <summary>Answers 429 with the <c>Retry-After</c> of a refused token-bucket <paramref name="lease"/>.</summary>
    internal static Task TooManyAsync(HttpContext http, RateLimitLease lease, string what)
    {
        var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests,
            detail: $"Too many {what} from this client; try again in {seconds} s.").ExecuteAsync(http);
    }
}

/// <summary>Settings under <c>TaskStream:Limits</c> for writes.</summary>
internal sealed class WriteLimitOptions
{
    public const string Section = "TaskStream:Limits";

    /// <summary>Writes per second each client (write token, or address) may make, sustained.</summary>
    [Range(1, 1_000_000)]
    public int WritesPerSecond { get; set; } = 50;

    /// <summary>Writes a client may make at once before <see cref="WritesPerSecond"/> applies.</summary>
    [Range(1, 1_000_000)]
    public int WriteBurst { get; set; } = 100;

    /// <summary>One client's bucket.</summary>
    internal TokenBucketRateLimiterOptions Bucket() => new()
    {
        TokenLimit = WriteBurst,
        TokensPerPeriod = WritesPerSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
    };
}
