using System.Diagnostics;
using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;

namespace TaskStream.Bench;

/// <summary>What one client does with one stream.</summary>
public sealed record StreamPlan
{
    /// <summary>Read to the <c>end</c> event and check that exactly this many tasks came, with ids FirstId, FirstId+1, ….</summary>
    public long? ExpectTasks { get; init; }

    public long FirstId { get; init; } = 1;

    /// <summary>Dispose the response (the client disconnects) after this many task events.</summary>
    public int? DisconnectAfter { get; init; }

    /// <summary>After the first task event, keep the stream open without reading until this completes.</summary>
    public Task? HoldAfterFirst { get; init; }

    /// <summary>Called once the first task event arrived (or the stream failed before it).</summary>
    public Action? OnFirstOrFailure { get; init; }

    /// <summary>A stream that shows no first event within this long counts as an error.</summary>
    public TimeSpan FirstEventTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Also read the <c>end</c> event's <c>silo</c> (where the query grain ran) and <c>relay</c> (the silo that relayed
    /// the stream) into <see cref="StreamResult.EndSilo"/> and <see cref="StreamResult.EndRelay"/>.
    /// </summary>
    public bool ReadEndSilo { get; init; }
}

/// <summary>
/// One stream as the client saw it. TtfeMs: request sent → first task event parsed. EndSilo, EndRelay: the <c>end</c>
/// event's <c>silo</c> and <c>relay</c>, when the plan asked for them and the server sent them.
/// </summary>
public readonly record struct StreamResult(string? Error, long Tasks, double TtfeMs, double TotalMs, string? EndSilo = null, string? EndRelay = null)
{
    public bool Ok => Error is null;
}

/// <summary>
/// The one load-generating client, used unchanged against both targets: HttpClient over loopback with
/// unlimited connections, and System.Net.ServerSentEvents.SseParser reading the body.
/// </summary>
public sealed class SseLoad : IDisposable
{
    private readonly HttpClient _http;

    public SseLoad()
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            ConnectTimeout = TimeSpan.FromSeconds(15),
            // Disposing an unfinished response must close the socket at once: by default the handler first
            // tries to drain the rest of the body (up to 2 s), and the server would never see the disconnect.
            MaxResponseDrainSize = 0,
            ResponseDrainTimeout = TimeSpan.Zero,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public HttpClient Http => _http;

    public void Dispose() => _http.Dispose();

    public async Task<StreamResult> StreamAsync(Uri url, StreamPlan plan, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        double ttfe = double.NaN;
        long tasks = 0;
        long? endCount = null;
        string? endSilo = null, endRelay = null;
        var signalled = false;
        void Signal()
        {
            if (!signalled)
            {
                signalled = true;
                plan.OnFirstOrFailure?.Invoke();
            }
        }

        // Bounds the wait for the first event only; once it came, the caller's token alone applies.
        using var firstEvent = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        firstEvent.CancelAfter(plan.FirstEventTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, firstEvent.Token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return Done($"HTTP {(int)response.StatusCode}");
            }

            await using var body = await response.Content.ReadAsStreamAsync(firstEvent.Token);
            // Task events are not decoded at all; only `end`'s data is, and its silo only when asked for.
            var parser = plan.ReadEndSilo
                ? SseParser.Create(body, static (type, data) => type == "end" ? EndData.Parse(data, withSilo: true) : default)
                : SseParser.Create(body, static (type, data) => type == "end" ? EndData.Parse(data, withSilo: false) : default);
            await foreach (var item in parser.EnumerateAsync(firstEvent.Token))
            {
                if (item.EventType == "end")
                {
                    (endCount, endSilo, endRelay) = (item.Data.Count, item.Data.Silo, item.Data.Relay);
                    break;
                }

                if (item.EventType != "task")
                {
                    return Done($"unexpected event '{item.EventType}'");
                }

                if (tasks == 0)
                {
                    ttfe = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                    // From here on a slow stream is the plan's business (idle holds, large runs long).
                    firstEvent.CancelAfter(Timeout.InfiniteTimeSpan);
                    Signal();
                    if (plan.HoldAfterFirst is { } hold)
                    {
                        await hold.WaitAsync(cancellationToken);
                        return Done(null);
                    }
                }

                if (plan.ExpectTasks is not null && !IsExpectedId(item.EventId, plan.FirstId + tasks))
                {
                    return Done($"task id {item.EventId} out of order");
                }

                tasks++;
                if (tasks == plan.DisconnectAfter)
                {
                    return Done(null); // leaving the using block disposes the response: the client disconnects
                }
            }

            if (plan.ExpectTasks is not { } expected)
            {
                return Done(endCount is not null ? null
                    : tasks == 0 ? "stream closed before its first event"
                    : $"stream closed after {tasks} tasks without end event");
            }

            if (endCount is null)
            {
                return Done($"no end event after {tasks} tasks");
            }

            return Done(tasks != expected || endCount != expected
                ? $"got {tasks} tasks, end count {endCount}, expected {expected}"
                : null);
        }
        catch (OperationCanceledException) when (firstEvent.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return Done("timeout waiting for first event");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Done("cancelled by bench");
        }
        catch (Exception exception)
        {
            return Done(Describe(exception));
        }

        StreamResult Done(string? error)
        {
            Signal();
            return new StreamResult(error, tasks, ttfe, Stopwatch.GetElapsedTime(start).TotalMilliseconds, endSilo, endRelay);
        }
    }

    private static bool IsExpectedId(string? eventId, long expected) =>
        long.TryParse(eventId, out var id) && id == expected;

    private static string Describe(Exception exception)
    {
        var inner = exception;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner is System.Net.Sockets.SocketException socket
            ? $"socket {socket.SocketErrorCode}"
            : $"{exception.GetType().Name}: {inner.Message}";
    }
}

/// <summary>
/// The data of an <c>end</c> event, <c>{"count":N}</c> or <c>{"count":N,"silo":"S…","relay":"S…"}</c>: the only JSON
/// the client decodes, so task events cost no parsing beyond SSE framing. Count -2: no readable count.
/// </summary>
internal readonly record struct EndData(long Count, string? Silo, string? Relay)
{
    public static EndData Parse(ReadOnlySpan<byte> data, bool withSilo)
    {
        long count = -2;
        string? silo = null, relay = null;
        try
        {
            var reader = new Utf8JsonReader(data);
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
                {
                    continue;
                }

                if (reader.ValueTextEquals("count"u8) && reader.Read() && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var n))
                {
                    count = n;
                }
                else if (withSilo && reader.ValueTextEquals("silo"u8) && reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    silo = reader.GetString();
                }
                else if (withSilo && reader.ValueTextEquals("relay"u8) && reader.Read() && reader.TokenType == JsonTokenType.String)
                {
                    relay = reader.GetString();
                }
            }
        }
        catch (JsonException)
        {
            // not JSON: reported as a wrong end count
        }

        return new EndData(count, silo, relay);
    }
}
