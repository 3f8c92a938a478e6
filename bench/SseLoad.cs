using System.Collections.Concurrent;
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

    /// <summary>Also read the <c>end</c> event's <c>silo</c> (where the query grain ran) into <see cref="StreamResult.EndSilo"/>.</summary>
    public bool ReadEndSilo { get; init; }
}

/// <summary>
/// One stream as the client saw it. TtfeMs: request sent → first task event parsed. EndSilo: the <c>end</c>
/// event's <c>silo</c>, when the plan asked for it and the server sent one.
/// </summary>
public readonly record struct StreamResult(string? Error, long Tasks, double TtfeMs, double TotalMs, string? EndSilo = null)
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
        string? endSilo = null;
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
                    (endCount, endSilo) = (item.Data.Count, item.Data.Silo);
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
            return new StreamResult(error, tasks, ttfe, Stopwatch.GetElapsedTime(start).TotalMilliseconds, endSilo);
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
/// The data of an <c>end</c> event, <c>{"count":N}</c> or <c>{"count":N,"silo":"S…"}</c>: the only JSON the
/// client decodes, so task events cost no parsing beyond SSE framing. Count -2: no readable count.
/// </summary>
internal readonly record struct EndData(long Count, string? Silo)
{
    public static EndData Parse(ReadOnlySpan<byte> data, bool withSilo)
    {
        long count = -2;
        string? silo = null;
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
            }
        }
        catch (JsonException)
        {
            // not JSON: reported as a wrong end count
        }

        return new EndData(count, silo);
    }
}

/// <summary>Results of many streams: counts, error kinds and time-to-first-event samples.</summary>
public sealed class LoadStats
{
    private readonly ConcurrentBag<double> _ttfe = [];
    private readonly ConcurrentDictionary<string, int> _errors = new();
    private readonly ConcurrentDictionary<(string Api, string GrainSilo), Tally> _placements = new();
    private long _ok;
    private long _tasks;

    public long Ok => Interlocked.Read(ref _ok);

    public long Tasks => Interlocked.Read(ref _tasks);

    public long Errors => _errors.Values.Sum(v => (long)v);

    public IReadOnlyDictionary<string, int> ErrorKinds => _errors;

    /// <summary>
    /// Correct streams by where they ran: the API (host:port) the client asked, and the silo its <c>end</c>
    /// event named as the grain's. Only streams that read an end silo (<see cref="StreamPlan.ReadEndSilo"/>) count.
    /// </summary>
    public IReadOnlyDictionary<(string Api, string GrainSilo), Tally> Placements => _placements;

    /// <param name="result">One finished stream.</param>
    /// <param name="api">The URL it was read from, for <see cref="Placements"/>.</param>
    public void Add(StreamResult result, Uri? api = null)
    {
        Interlocked.Add(ref _tasks, result.Tasks);
        if (!double.IsNaN(result.TtfeMs))
        {
            _ttfe.Add(result.TtfeMs);
        }

        if (result.Ok)
        {
            Interlocked.Increment(ref _ok);
            if (result.EndSilo is { } silo)
            {
                _placements.AddOrUpdate((api?.Authority ?? "", silo), new Tally(1, result.TotalMs),
                    (_, t) => new Tally(t.Streams + 1, t.TotalMs + result.TotalMs));
            }
        }
        else
        {
            _errors.AddOrUpdate(result.Error!, 1, (_, n) => n + 1);
        }
    }

    /// <summary>Adds another batch's streams to these (warm-up rounds).</summary>
    public void Add(LoadStats other)
    {
        Interlocked.Add(ref _ok, other.Ok);
        Interlocked.Add(ref _tasks, other.Tasks);
        foreach (var sample in other._ttfe)
        {
            _ttfe.Add(sample);
        }

        foreach (var (kind, count) in other._errors)
        {
            _errors.AddOrUpdate(kind, count, (_, n) => n + count);
        }

        foreach (var (where, tally) in other._placements)
        {
            _placements.AddOrUpdate(where, tally, (_, t) => new Tally(t.Streams + tally.Streams, t.TotalMs + tally.TotalMs));
        }
    }

    public double TtfePercentile(double p) => Percentiles.Of(_ttfe, p);

    /// <summary>Streams, and the sum of their times from request to end event (ms).</summary>
    public readonly record struct Tally(long Streams, double TotalMs);

    public string ErrorSummary() => _errors.IsEmpty ? "none" : Summarize(_errors);

    /// <summary>Error kinds by count, most frequent first: "3× HTTP 503; 1× …".</summary>
    public static string Summarize(IEnumerable<KeyValuePair<string, int>> errors) =>
        string.Join("; ", errors.OrderByDescending(e => e.Value).Select(e => $"{e.Value}× {e.Key}"));
}

public static class Percentiles
{
    /// <summary>Nearest-rank percentile (p in 0..100); NaN for no samples.</summary>
    public static double Of(IEnumerable<double> samples, double p)
    {
        var sorted = samples.ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>The load shapes the scenarios are made of, each against any target.</summary>
public static class Drivers
{
    /// <summary>
    /// Closed loop: each client streams, and as soon as its stream ends starts the next, until the duration
    /// is over (streams in flight then are finished and counted). Returns the stats and the elapsed time.
    /// </summary>
    public static Task<(LoadStats Stats, TimeSpan Elapsed)> ClosedLoopAsync(
        SseLoad load, Uri url, StreamPlan plan, int clients, TimeSpan duration, CancellationToken cancellationToken) =>
        ClosedLoopAsync(load, [url], plan, clients, duration, cancellationToken);

    /// <summary>The same closed loop over several servers: client i always reads from <c>urls[i % urls.Count]</c>.</summary>
    public static async Task<(LoadStats Stats, TimeSpan Elapsed)> ClosedLoopAsync(
        SseLoad load, IReadOnlyList<Uri> urls, StreamPlan plan, int clients, TimeSpan duration, CancellationToken cancellationToken)
    {
        var stats = new LoadStats();
        var start = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var url = urls[i % urls.Count];
            while (Stopwatch.GetElapsedTime(start) < duration && !cancellationToken.IsCancellationRequested)
            {
                stats.Add(await load.StreamAsync(url, plan, cancellationToken), url);
            }
        }, cancellationToken));
        await Task.WhenAll(workers);
        return (stats, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>
    /// Starts <paramref name="count"/> streams with at most <paramref name="connectConcurrency"/> waiting for
    /// their first event at once (so the server sees a steady arrival, not a SYN storm), stream i shaped by
    /// <c>planFor(i)</c>. Returns when every stream has got its first event or failed; the returned
    /// task finishes when every stream has finished.
    /// </summary>
    public static async Task<(LoadStats Stats, Task AllDone)> OpenManyAsync(
        SseLoad load, Uri url, Func<int, StreamPlan> planFor, int count, int connectConcurrency, CancellationToken cancellationToken)
    {
        var stats = new LoadStats();
        using var gate = new SemaphoreSlim(connectConcurrency);
        var opened = new CountdownEvent(count);
        var streams = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            await gate.WaitAsync(cancellationToken);
            var released = 0;
            var streamPlan = planFor(i) with
            {
                OnFirstOrFailure = () =>
                {
                    if (Interlocked.Exchange(ref released, 1) == 0)
                    {
                        gate.Release();
                        opened.Signal();
                    }
                },
            };
            streams.Add(Task.Run(async () => stats.Add(await load.StreamAsync(url, streamPlan, cancellationToken)), cancellationToken));
        }

        // Every stream signals exactly once (first event or failure), so this wait is bounded by FirstEventTimeout.
        await Task.Run(() => opened.Wait(cancellationToken), cancellationToken);
        opened.Dispose();
        return (stats, Task.WhenAll(streams));
    }
}
