using System.Diagnostics;
using System.Net;

namespace TaskStream.Tests.Infrastructure;

/// <summary>An open follow stream (<c>/tasks/stream?follow=true…</c>), read event by event.</summary>
public sealed class FeedFollower : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly HttpResponseMessage _response;
    private readonly Stream _body;
    private readonly IAsyncEnumerator<SseEvent> _events;

    private FeedFollower(HttpResponseMessage response, Stream body)
    {
        (_response, _body) = (response, body);
        _events = Sse.ParseAsync(body).GetAsyncEnumerator();
    }

    /// <summary>The response body, for reading what comes between events (heartbeats).</summary>
    public Stream Body => _body;

    public static async Task<FeedFollower> OpenAsync(HttpClient http, string url, string? lastEventId = null)
    {
        var response = await http.SendAsync(Sse.Get(url, lastEventId), HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            var text = await response.Content.ReadAsStringAsync();
            response.Dispose();
            throw new InvalidOperationException($"GET {url}: {(int)response.StatusCode} {text}");
        }

        return new FeedFollower(response, await response.Content.ReadAsStreamAsync());
    }

    /// <summary>The next event; the stream must not end, and the event must come within <paramref name="patience"/> (30 s).</summary>
    public async Task<SseEvent> NextAsync(TimeSpan? patience = null)
    {
        Assert.True(await _events.MoveNextAsync().AsTask().WaitAsync(patience ?? Patience), "the follow stream ended");
        return _events.Current;
    }

    /// <summary>The next event, and how long after <paramref name="since"/> (a Stopwatch timestamp) it was parsed.</summary>
    public async Task<(SseEvent Event, TimeSpan After)> NextAfterAsync(long since)
    {
        var next = await NextAsync();
        return (next, Stopwatch.GetElapsedTime(since));
    }

    /// <summary>Events up to and including the next <c>live</c>.</summary>
    public async Task<List<SseEvent>> UntilLiveAsync()
    {
        var events = new List<SseEvent>();
        do
        {
            events.Add(await NextAsync());
        }
        while (events[^1].Type != "live");
        return events;
    }

    public async ValueTask DisposeAsync()
    {
        // Hanging up as a browser does; the parser over the closed body holds nothing else.
        await _body.DisposeAsync();
        _response.Dispose();
    }
}
