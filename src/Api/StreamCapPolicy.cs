using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// The rate-limiting policy of the SSE stream endpoints: at most <c>MaxStreams</c> concurrent streams per
/// silo (503 over it) and <c>MaxStreamsPerClient</c> per client (<see cref="ClientAddress"/>; 429), both with
/// <c>Retry-After</c> and a problem+json body. The middleware runs before the endpoint, so a refused stream never reaches a grain.
/// </summary>
internal sealed class StreamCapPolicy : IRateLimiterPolicy<IPAddress>
{
    public const string Name = "streams";

    private readonly StreamLimitsOptions _limits;
    private readonly TaskStreamMetrics _metrics;
    private readonly string _retryAfter;
    private readonly Func<IPAddress, RateLimiter> _newClient;

    public StreamCapPolicy(IOptions<StreamLimitsOptions> options, TaskStreamMetrics metrics)
    {
        _limits = options.Value;
        _metrics = metrics;
        _retryAfter = _limits.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        var silo = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = _limits.MaxStreams, QueueLimit = 0 });
        var perClient = new ConcurrencyLimiterOptions { PermitLimit = _limits.MaxStreamsPerClient, QueueLimit = 0 };
        _newClient = _ => new StreamSlotLimiter(silo, new ConcurrencyLimiter(perClient));
        OnRejected = RefuseAsync;
    }

    public Func<OnRejectedContext, CancellationToken, ValueTask>? OnRejected { get; }

    public RateLimitPartition<IPAddress> GetPartition(HttpContext httpContext) =>
        RateLimitPartition.Get(ClientAddress.Key(httpContext), _newClient);

    private ValueTask RefuseAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var cap = context.Lease is StreamRefusal refusal ? refusal.Cap : StreamCap.Silo;
        _metrics.StreamRefused(cap == StreamCap.Silo ? "silo" : "client");
        var http = context.HttpContext;
        http.Response.Headers.RetryAfter = _retryAfter;
        var problem = cap == StreamCap.Silo
            ? TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Too many streams on this silo",
                detail: $"This silo relays at most {_limits.MaxStreams} streams at once (TaskStream:Limits:MaxStreams). " +
                    "Retry after the Retry-After seconds, or connect to another silo.")
            : TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many streams from this client",
                detail: $"A client address may hold at most {_limits.MaxStreamsPerClient} streams at once " +
                    "(TaskStream:Limits:MaxStreamsPerClient). Close one, or retry after the Retry-After seconds.");
        return new ValueTask(problem.ExecuteAsync(http));
    }
}
