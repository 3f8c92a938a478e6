using System.Buffers;
using System.Globalization;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using TaskStream.Grains;

namespace TaskStream.Api;

// What the relay sends, as SSE: the response headers, one event per query result, each event's JSON, and the log lines.
internal sealed partial class TaskEventStream
{
    /// <summary>The stream's status and headers, to go out with its first send.</summary>
    private static void SetHeaders(HttpContext http)
    {
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache,no-store";
        response.Headers.Pragma = "no-cache";
        response.Headers.ContentEncoding = "identity";
        response.Headers[TaskStreamHeaders.AccelBuffering] = "no"; // tells nginx-style proxies not to buffer the stream
        http.Features.GetRequiredFeature<IHttpResponseBodyFeature>().DisableBuffering();
    }

    private SseItem<object>? ToSse(TaskQueryEvent result)
    {
        switch (result)
        {
            case TaskItem task:
                _events++;
                return new SseItem<object>(task, "task") { EventId = Id(task.Id) };
            case TaskChanged changed:
                _events++;
                return new SseItem<object>(changed.Task, "task") { EventId = Id(changed.Seq) };
            case TaskDeleted deleted:
                _events++;
                return new SseItem<object>(new DeletedTask(deleted.Id), "task-deleted") { EventId = Id(deleted.Seq) };
            case FollowReset reset:
                // No id: until the snapshot's first task arrives, a reconnect resets again, which is right.
                _live = false;
                return new SseItem<object>(new StreamReset(reset.Reason), "reset");
            case FollowingLive live:
                _live = true;
                return new SseItem<object>(new StreamLive(_events, live.Silo, _relay), "live") { EventId = Id(live.Seq) };
            default:
                return null;
        }

        static string Id(long value) => value.ToString(CultureInfo.InvariantCulture);
    }

    // One JSON writer per thread, re-pointed at each event's buffer, instead of one per event.
    [ThreadStatic]
    private static Utf8JsonWriter? t_json;
    private static readonly ArrayBufferWriter<byte> Detached = new(1);

    private static void WriteData(SseItem<object> item, IBufferWriter<byte> buffer)
    {
        var writer = t_json ??= new Utf8JsonWriter(Detached);
        writer.Reset(buffer);
        // Every event's data type is in the source-generated context: no reflection, one lookup.
        JsonSerializer.Serialize(writer, item.Data, TaskStreamJsonContext.Default.GetTypeInfo(item.Data.GetType())
            ?? throw new InvalidOperationException($"No SSE format for {item.Data.GetType()}."));
        writer.Flush();
        writer.Reset(Detached); // holds no reference to the event's buffer
    }

    // One line per stream, never per event. ReleaseMs: from the stream's end (for "cancelled", the moment
    // the client's disconnect was seen) until the grain confirmed its iterator and connection were closed.
    [LoggerMessage(EventId = 2, EventName = "StreamEnded", Level = LogLevel.Information,
        Message = "Stream {Outcome}: {Events} events in {DurationMs:F1} ms; grain released {ReleaseMs:F1} ms after the end (completed={Completed} limit={Limit} after={After} resume={ResumeAfter} follow={Follow}) relayed by {Silo}")]
    private static partial void LogStreamEnded(ILogger logger, string outcome, long events, double durationMs, double releaseMs,
        bool? completed, int? limit, long after, long? resumeAfter, bool follow, string silo);

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Task stream failed; the client will reconnect and resume from its Last-Event-ID")]
    private static partial void LogStreamFailed(ILogger logger, Exception exception);
}
