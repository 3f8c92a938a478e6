using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// Relays one query grain's tasks to one client as Server-Sent Events: headers at once, a <c>task</c>
/// event per task (the first event carrying <c>retry</c>), a closing <c>end</c> event, pacing between events,
/// and heartbeats (through <see cref="HeartbeatMonitor"/>) while it waits. A follow stream sends
/// <c>task</c> / <c>task-deleted</c> events with change sequence numbers as ids, one <c>live</c> once it has
/// caught up (pacing stops there), and never ends by itself. The client's disconnect, or host shutdown,
/// cancels the grain's iterator.
/// </summary>
internal sealed partial class TaskEventStream(QueryGrainLease lease, TaskQuery query) : IResult
{
    private long _events;
    private long _eventsCounted;
    private TaskStreamMetrics? _metrics;
    private bool _live;
    private bool _exhausted; // MoveNextAsync() returned false: the enumeration completed
    private string _relay = "";

    public async Task ExecuteAsync(HttpContext http)
    {
        var relay = http.RequestServices.GetRequiredService<Services>();
        var (options, metrics) = (relay.Options, relay.Metrics);
        _relay = relay.SiloName;
        http.Response.Headers[TaskStreamHeaders.Silo] = _relay;
        // Every send goes through the heartbeat, whose monitor drops a client that stops reading (SendTimeoutSeconds).
        // Its token is cancelled when the client leaves (and notes when: the start of the disconnect-to-release
        // latency) or the host stops.
        using var heartbeat = relay.Heartbeats.Watch(http.Response);
        var token = heartbeat.Token;
        var pacing = TimeSpan.FromMilliseconds(options.EventIntervalMs);
        var started = Stopwatch.GetTimestamp();
        var outcome = StreamOutcome.Completed;

        // Paced streams fetch one task per grain call, so a lost silo shows at the next event rather than
        // after a prefetched batch. Unpaced streams take Orleans' batches of ready rows.
        var enumerator = lease.Grain.QueryAsync(query, lease.Id).WithBatchSize(pacing > TimeSpan.Zero ? 1 : 100).GetAsyncEnumerator(token);
        metrics.StreamStarted();
        _metrics = metrics;
        try
        {
            var haveFirst = false;
            if (!query.Follow && (query.ResumeAfter is not null || query.After > 0))
            {
                // Nothing left for a resuming client: 204 is what makes a browser EventSource stop reconnecting.
                var any = await enumerator.MoveNextAsync();
                if (!any || enumerator.Current is not TaskItem)
                {
                    // Only the query's closing QueryCompleted came: reading past it completes the enumeration.
                    _exhausted = !any || !await enumerator.MoveNextAsync();
                    http.Response.StatusCode = StatusCodes.Status204NoContent;
                    outcome = StreamOutcome.NoContent;
                    await heartbeat.SendAsync(http.Response.CompleteAsync());
                    return;
                }

                haveFirst = true;
            }

            // The headers go out with the first send, which comes before the relay first waits for a result
            // (NextAsync): never held back by a slow query, and in one send with events that were already there.
            // The first result is awaited here, not inside the SSE writer: a short stream's one batch then passes
            // through SseFormatter without suspending and resuming each of its layers.
            SetHeaders(http);
            var more = haveFirst || await NextAsync(enumerator.MoveNextAsync(), heartbeat, token);
            await SseFormatter.WriteAsync(EventsAsync(enumerator, more, heartbeat, options, token),
                new UnflushedPipeStream(http.Response.BodyWriter), WriteData, token);
            // Finish the response now; the client need not wait for a final Dispose round trip below.
            await heartbeat.SendAsync(http.Response.CompleteAsync());
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // The client left (or stopped reading and was dropped) or the host is stopping: the stream just
            // ends, and a reconnecting client resumes from its Last-Event-ID.
            outcome = heartbeat.Dropped ? StreamOutcome.Dropped
                : http.RequestAborted.IsCancellationRequested ? StreamOutcome.Cancelled : StreamOutcome.Stopped;
            if (outcome == StreamOutcome.Stopped)
            {
                // Close the connection once this response ends, so the client's reconnect opens a new one
                // (to another silo) instead of waiting on a kept-alive connection to a host that is going away.
                http.Features.Get<IConnectionLifetimeNotificationFeature>()?.RequestClose();
            }
        }
        catch (Exception exception)
        {
            // The grain failed (its silo died or stopped, the store failed). Ending the stream without an
            // `end` event makes the client reconnect with its Last-Event-ID, and a new grain picks up where
            // this one stopped. Even before any event: an EventSource gives up for good on an error status.
            outcome = StreamOutcome.Failed;
            LogStreamFailed(relay.Logger, exception);
            if (!http.Response.HasStarted)
            {
                SetHeaders(http);
                await heartbeat.SendAsync(http.Response.StartAsync(CancellationToken.None));
            }
        }
        finally
        {
            heartbeat.MarkEnded();
            // Returns once the grain has disposed its iterator, and so closed the query's connection.
            await lease.EndAsync(enumerator, ranToEnd: outcome is StreamOutcome.Completed or StreamOutcome.NoContent, exhausted: _exhausted);

            var duration = Stopwatch.GetElapsedTime(started);
            CountSentEvents();
            metrics.StreamEnded(outcome.ToText(), duration);
            LogStreamEnded(relay.Logger, outcome.ToText(), _events, duration.TotalMilliseconds,
                Stopwatch.GetElapsedTime(heartbeat.EndedAt).TotalMilliseconds,
                query.Completed, query.Limit, query.After, query.ResumeAfter, query.Follow, relay.SiloName);
        }
    }

    /// <summary>What every stream needs, resolved once per silo rather than once per request.</summary>
    internal sealed class Services(IOptions<StreamingOptions> options, TaskStreamMetrics metrics,
        HeartbeatMonitor heartbeats, ILocalSiloDetails silo, ILogger<TaskEventStream> logger)
    {
        public StreamingOptions Options { get; } = options.Value;

        public TaskStreamMetrics Metrics { get; } = metrics;

        public HeartbeatMonitor Heartbeats { get; } = heartbeats;

        public string SiloName { get; } = silo.SiloAddress.ToString();

        public ILogger Logger { get; } = logger;
    }

    private async IAsyncEnumerable<SseItem<object>> EventsAsync(
        IAsyncEnumerator<TaskQueryEvent> results, bool more, HeartbeatMonitor.Heartbeat heartbeat,
        StreamingOptions options, [EnumeratorCancellation] CancellationToken token)
    {
        var pacing = TimeSpan.FromMilliseconds(options.EventIntervalMs);
        var retry = TimeSpan.FromMilliseconds(options.RetryMs);
        string? ranOn = null;
        var first = true;
        while (more)
        {
            if (ToSse(results.Current) is { } item)
            {
                yield return first ? item with { ReconnectionInterval = retry } : item;
                first = false;
            }
            else if (results.Current is QueryCompleted completed)
            {
                ranOn = completed.Silo;
            }

            var next = pacing > TimeSpan.Zero ? MoveNextThenPaceAsync(results, pacing, token) : results.MoveNextAsync();
            more = await NextAsync(next, heartbeat, token);
        }

        _exhausted = true;

        if (!query.Follow)
        {
            // No id: the client's Last-Event-ID stays the last task's, so a reconnect after `end` gets 204.
            yield return new SseItem<object>(new StreamEnd(_events, ranOn, _relay), "end");
        }
    }

    // The pause comes before each task after the first, and not before `end`: a stream's last task closes it
    // at once. A follow stream is paced until it is live; changes after that go out as they happen.
    private async ValueTask<bool> MoveNextThenPaceAsync(IAsyncEnumerator<TaskQueryEvent> results, TimeSpan pacing, CancellationToken token)
    {
        if (!await results.MoveNextAsync())
        {
            return false;
        }

        if (results.Current is TaskItem || (!_live && results.Current is TaskChanged or TaskDeleted))
        {
            await Task.Delay(pacing, token);
        }

        return true;
    }

    /// <summary>
    /// The next result, if it is there already; otherwise sends what was written so far (the headers, and events
    /// that were ready at once, go out in one send) and waits, letting the <see cref="HeartbeatMonitor"/> write a
    /// <c>:</c> comment meanwhile if the wait is long.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // every follower waits here after every change
    private async ValueTask<bool> NextAsync(
        ValueTask<bool> next, HeartbeatMonitor.Heartbeat heartbeat, CancellationToken token)
    {
        if (next.IsCompleted)
        {
            return await next;
        }

        await heartbeat.FlushAsync(token);
        CountSentEvents(); // as they go out, so a follow stream open for days shows its events too
        heartbeat.ReleaseWhileWaiting();
        try
        {
            return await next;
        }
        finally
        {
            await heartbeat.ResumeAsync();
        }
    }

    private void CountSentEvents()
    {
        _metrics?.EventsSent(_events - _eventsCounted);
        _eventsCounted = _events;
    }
}
