using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// The rate-limiting policy of the SSE stream endpoints: at most <c>MaxStreams</c> concurrent streams per
/// silo (503 over it) and <c>MaxStreamsPerClient</c> per client address (429), both with <c>Retry-After</c>
/// and a problem+json body. The middleware runs before the endpoint, so a refused stream never reaches a grain.
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
        RateLimitPartition.Get(ClientOf(httpContext.Connection.RemoteIpAddress), _newClient);

    /// <summary>
    /// The address a client is counted by. One IPv6 host can use every address of its /64, so an IPv6 client is
    /// its /64. Behind a proxy every client shares the proxy's address: raise the cap there.
    /// </summary>
    internal static IPAddress ClientOf(IPAddress? address)
    {
        if (address is null)
        {
            return IPAddress.None;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

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
