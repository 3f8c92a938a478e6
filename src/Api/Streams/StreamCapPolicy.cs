using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// The caps of the SSE stream endpoints: at most <c>MaxStreams</c> concurrent streams per silo (503 over it) and
/// <c>MaxStreamsPerClient</c> per client (<see cref="ClientAddress"/>; 429), both with <c>Retry-After</c> and a problem+json body. The
/// endpoint asks before it rents a grain, so a refused stream never reaches one, and a stream holds its
/// slot until its response has ended. Two counters rather than ASP.NET Core's rate limiter, which took two
/// permits and a partition lookup per stream in its own middleware for the same answer.
/// </summary>
internal sealed class StreamCapPolicy
{
    private readonly LimitsOptions _limits;
    private readonly TaskStreamMetrics _metrics;
    private readonly string _retryAfter;
    private readonly Lock _gate = new();
    private readonly Dictionary<IPAddress, int> _perClient = [];
    private int _streams;

    public StreamCapPolicy(IOptions<LimitsOptions> options, TaskStreamMetrics metrics)
    {
        _limits = options.Value;
        _metrics = metrics;
        _retryAfter = _limits.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Takes a stream slot for this request, given back when its response has ended; or, over a cap, the
    /// refusal to send instead (<c>Retry-After</c> is already set).
    /// </summary>
    public ProblemHttpResult? TryAdmit(HttpContext http)
    {
        var client = ClientAddress.Key(http);
        // The client's own cap first: a client over it is told so (429), even when the silo is full as well.
        lock (_gate)
        {
            _perClient.TryGetValue(client, out var held);
            if (held >= _limits.MaxStreamsPerClient)
            {
                return Refuse(http, StreamCap.Client);
            }

            _perClient[client] = held + 1;
        }

        if (Interlocked.Increment(ref _streams) > _limits.MaxStreams)
        {
            Release(client);
            return Refuse(http, StreamCap.Silo);
        }

        http.Response.RegisterForDispose(new Slot(this, client));
        return null;
    }

    private void Release(IPAddress client)
    {
        Interlocked.Decrement(ref _streams);
        lock (_gate)
        {
            var held = _perClient[client] - 1;
            if (held == 0)
            {
                _perClient.Remove(client); // a client with no stream leaves nothing behind
            }
            else
            {
                _perClient[client] = held;
            }
        }
    }

    private ProblemHttpResult Refuse(HttpContext http, StreamCap cap)
    {
        _metrics.StreamRefused(cap);
        http.Response.Headers.RetryAfter = _retryAfter;
        return cap == StreamCap.Silo
            ? TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Too many streams on this silo",
                detail: $"This silo relays at most {_limits.MaxStreams} streams at once (TaskStream:Limits:MaxStreams). " +
                    "Retry after the Retry-After seconds, or connect to another silo.")
            : TypedResults.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many streams from this client",
                detail: $"A client address may hold at most {_limits.MaxStreamsPerClient} streams at once " +
                    "(TaskStream:Limits:MaxStreamsPerClient). Close one, or retry after the Retry-After seconds.");
    }

    /// <summary>One admitted stream's place in both counts; the response disposes it once it has ended.</summary>
    private sealed class Slot(StreamCapPolicy caps, IPAddress client) : IDisposable
    {
        public void Dispose() => caps.Release(client);
    }
}
