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
internal sealed class WriteRateLimitPolicy(WriteTokens tokens, IOptions<LimitsOptions> options) : IRateLimiterPolicy<string>
{
    public const string Name = "writes";

    private readonly TokenBucketRateLimiterOptions _bucket = options.Value.WriteBucket();

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
