using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;

namespace TaskStream.Tests.Infrastructure;

/// <summary>One parsed SSE event, as a client sees it.</summary>
public sealed record SseEvent(string Type, string? Id, string Data, TimeSpan? Retry)
{
    public JsonElement Json => JsonDocument.Parse(Data).RootElement;
}

/// <summary>A whole SSE response read to its end: status, headers, raw text and the events SseParser found.</summary>
public sealed record SseResponse(HttpStatusCode Status, HttpResponseHeaders Headers, HttpContentHeaders? ContentHeaders, string Raw, IReadOnlyList<SseEvent> Events)
{
    public IEnumerable<long> TaskIds => Events.Where(e => e.Type == "task").Select(e => e.Json.GetProperty("id").GetInt64());
}

public static class Sse
{
    public static HttpRequestMessage Get(string url, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
        }

        return request;
    }

    /// <summary>Reads a stream until the server closes it.</summary>
    public static async Task<SseResponse> ReadAllAsync(HttpClient http, string url, string? lastEventId = null)
    {
        using var response = await http.SendAsync(Get(url, lastEventId), HttpCompletionOption.ResponseHeadersRead);
        var raw = await response.Content.ReadAsByteArrayAsync();
        var events = await ParseAsync(new MemoryStream(raw)).ToListAsync();
        return new SseResponse(response.StatusCode, response.Headers, response.Content.Headers, Encoding.UTF8.GetString(raw), events);
    }

    public static async IAsyncEnumerable<SseEvent> ParseAsync(Stream stream, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var parser = SseParser.Create(stream, (_, data) => Encoding.UTF8.GetString(data));
        await foreach (var item in parser.EnumerateAsync(cancellationToken))
        {
            yield return new SseEvent(item.EventType, item.EventId, item.Data, item.ReconnectionInterval);
        }
    }
}
