using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace TaskStream.Client;

// The SSE streams: read with SseParser, resumed with Last-Event-ID, after the server's `retry:`, wherever they break.
public sealed partial class TaskStreamClient
{
    /// <summary>
    /// The matching tasks in id order, as <c>GET /tasks/stream</c> sends them, to the stream's end. When the stream
    /// breaks (a dropped connection, a silo that stopped or died) the client reconnects after the server's
    /// <c>retry:</c> with <c>Last-Event-ID</c>, so every task comes once.
    /// </summary>
    /// <exception cref="TaskStreamProblemException">The server refused the stream (a bad filter is a 400 naming the parameter).</exception>
    /// <exception cref="HttpRequestException">No server could be reached, or the stream kept breaking, <see cref="TaskStreamClientOptions.MaxRetries"/> times in a row.</exception>
    public async IAsyncEnumerable<TaskItem> ReadTasksAsync(TaskFilter? filter = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var e in StreamAsync(filter ?? TaskFilter.All, follow: false, cancellationToken))
        {
            if (e is TaskReceived received)
            {
                yield return received.Task;
            }
        }
    }

    /// <summary>
    /// A follow stream (<c>GET /tasks/stream?follow=true</c>): the matching tasks, <see cref="StreamLive"/>, then every
    /// change as it happens, until cancelled. It resumes by itself after the stream breaks, with every change
    /// made meanwhile once, in order; when the server cannot resume it says <see cref="StreamReset"/> and
    /// sends a fresh snapshot. It ends on <see cref="StreamEnded"/> or when the server answers 204.
    /// </summary>
    /// <inheritdoc cref="ReadTasksAsync" path="/exception"/>
    public IAsyncEnumerable<TaskStreamEvent> FollowAsync(TaskFilter? filter = null, CancellationToken cancellationToken = default) =>
        StreamAsync(filter ?? TaskFilter.All, follow: true, cancellationToken);

    private async IAsyncEnumerable<TaskStreamEvent> StreamAsync(TaskFilter filter, bool follow,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var path = "tasks/stream" + QueryString(filter, follow);
        string? lastEventId = null;
        var retry = _options.RetryDelay;
        for (var failures = 0; ; failures++)
        {
            var attempt = await AttemptAsync(address => StreamRequest(address(path), lastEventId), HttpCompletionOption.ResponseHeadersRead,
                cancellationToken);
            if (attempt.ShouldRetry && failures < _options.MaxRetries)
            {
                attempt.Response?.Dispose();
                await Task.Delay(attempt.RetryAfter ?? retry, cancellationToken);
                continue;
            }

            using var response = attempt.Answer();
            if (response.StatusCode == HttpStatusCode.NoContent)
            {
                yield break; // nothing left after Last-Event-ID
            }

            if (!response.IsSuccessStatusCode)
            {
                throw await ProblemAsync(response, cancellationToken);
            }

            var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            var parser = SseParser.Create(_options.IdleTimeout == Timeout.InfiniteTimeSpan ? body : new IdleTimeoutStream(body, _options.IdleTimeout),
                ParseData);
            await using var items = parser.EnumerateAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
            Exception? broken = null;
            while (true)
            {
                try
                {
                    if (!await items.MoveNextAsync())
                    {
                        break; // closed without `end`: the server went away, or its query failed
                    }
                }
                catch (Exception exception) when (IsTransportFailure(exception, cancellationToken))
                {
                    broken = exception;
                    break;
                }

                failures = 0;
                var item = items.Current;
                retry = item.ReconnectionInterval ?? retry;
                // The parser keeps the last id across events sent without one, as a browser does.
                lastEventId = string.IsNullOrEmpty(parser.LastEventId) ? null : parser.LastEventId;
                if (ToEvent(item) is not { } e)
                {
                    continue;
                }

                yield return e;
                if (e is StreamEnded)
                {
                    yield break;
                }
            }

            if (failures >= _options.MaxRetries)
            {
                throw new HttpRequestException($"The task stream broke {failures + 1} times in a row without an event.", broken);
            }

            await Task.Delay(retry, cancellationToken);
        }
    }

    private static HttpRequestMessage StreamRequest(Uri url, string? lastEventId)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        return request;
    }

    private static object? ParseData(string eventType, ReadOnlySpan<byte> data) => eventType switch
    {
        "task" => JsonSerializer.Deserialize(data, ClientJsonContext.Default.TaskItem),
        "task-deleted" => JsonSerializer.Deserialize(data, ClientJsonContext.Default.DeletedWire),
        "live" or "end" => JsonSerializer.Deserialize(data, ClientJsonContext.Default.CountWire),
        "reset" => JsonSerializer.Deserialize(data, ClientJsonContext.Default.ResetWire),
        _ => null, // an event type this client does not know yet
    };

    private static TaskStreamEvent? ToEvent(SseItem<object?> item)
    {
        long? id = long.TryParse(item.EventId, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
        return (item.EventType, item.Data) switch
        {
            ("task", TaskItem task) => new TaskReceived(task, id),
            ("task-deleted", DeletedWire deleted) => new TaskRemoved(deleted.Id, id),
            ("live", CountWire live) => new StreamLive(live.Count, live.Silo ?? "", id),
            ("end", CountWire end) => new StreamEnded(end.Count, end.Silo),
            ("reset", ResetWire reset) => new StreamReset(reset.Reason),
            _ => null,
        };
    }
}
