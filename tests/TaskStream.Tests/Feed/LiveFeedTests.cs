using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Writes on one silo's API, follow streams on the other's: the live feed end to end over HTTP.</summary>
[Collection(nameof(TwoSilos))]
public sealed class LiveFeedTests(TwoSilos silos)
{
    private static readonly TimeSpan OneSecond = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task AFollowerSeesTheSnapshotThenAPostPatchAndDeleteMadeThroughAnotherSilosApiEachWithinASecond()
    {
        var expected = await ListAsync(silos.A, "");
        await using var follower = await FollowAsync(silos.A, "/tasks/stream?follow=true");
        var snapshot = await follower.UntilLiveAsync();
        Assert.Equal(expected.Keys.Order(), snapshot.Where(e => e.Type == "task").Select(e => e.Json.GetProperty("id").GetInt64()).Order());
        Assert.NotNull(snapshot[0].Retry);
        Assert.Contains(snapshot[^1].Json.GetProperty("silo").GetString(), await SilosAsync());

        var created = await WriteAsync(silos.B, HttpMethod.Post, "/tasks", """{"title":"Followed","description":"through B"}""", HttpStatusCode.Created);
        var id = created.Body.GetProperty("id").GetInt64();
        var e1 = await WithinASecondAsync(follower, created.At);
        Assert.Equal(("task", created.Seq.ToString()), (e1.Type, e1.Id));
        Assert.Equal(created.Body.GetRawText(), e1.Data);

        var patched = await WriteAsync(silos.B, HttpMethod.Patch, $"/tasks/{id}", """{"completed":true}""", HttpStatusCode.OK);
        var e2 = await WithinASecondAsync(follower, patched.At);
        Assert.Equal(("task", patched.Seq.ToString()), (e2.Type, e2.Id));
        Assert.True(e2.Json.GetProperty("completed").GetBoolean());

        var deleted = await WriteAsync(silos.B, HttpMethod.Delete, $"/tasks/{id}", null, HttpStatusCode.NoContent);
        var e3 = await WithinASecondAsync(follower, deleted.At);
        Assert.Equal(("task-deleted", deleted.Seq.ToString(), $$"""{"id":{{id}}}"""), (e3.Type, e3.Id, e3.Data));
        Assert.True(created.Seq < patched.Seq && patched.Seq < deleted.Seq);
    }

    [Fact]
    public async Task AFollowerThatReconnectsWithLastEventIdGetsAllTwentyWritesMadeWhileAwayOnceAndInOrder()
    {
        string lastEventId;
        await using (var follower = await FollowAsync(silos.A, "/tasks/stream?follow=true"))
        {
            lastEventId = (await follower.UntilLiveAsync())[^1].Id!;
        }

        var writes = new List<Written>();
        for (var i = 0; i < 20; i++)
        {
            writes.Add(await WriteAsync(i % 2 == 0 ? silos.A : silos.B, HttpMethod.Post, "/tasks", $$"""{"title":"While away {{i}}"}""", HttpStatusCode.Created));
        }

        await using var resumed = await FollowAsync(silos.B, "/tasks/stream?follow=true", lastEventId);
        var caughtUp = await resumed.UntilLiveAsync();

        Assert.Equal(writes.Select(w => (w.Seq.ToString(), w.Body.GetRawText())), caughtUp.SkipLast(1).Select(e => (e.Id!, e.Data)));
        Assert.All(caughtUp.SkipLast(1), e => Assert.Equal("task", e.Type));
        Assert.Equal(("live", writes[^1].Seq.ToString()), (caughtUp[^1].Type, caughtUp[^1].Id));
    }

    [Fact]
    public async Task AfterTwoHundredConcurrentWritesEveryFollowersViewEqualsAFreshListWithItsFilter()
    {
        string[] filters = ["", "&completed=true", "&completed=false"];
        var followers = new List<(string Filter, FeedFollower Follower, Dictionary<long, string> View)>();
        for (var i = 0; i < 20; i++)
        {
            var filter = filters[i % 3];
            var follower = await FollowAsync(i % 2 == 0 ? silos.A : silos.B, "/tasks/stream?follow=true" + filter);
            var view = new Dictionary<long, string>();
            Apply(view, await follower.UntilLiveAsync());
            followers.Add((filter, follower, view));
        }

        try
        {
            // 200 writes at once through both APIs: creates, then toggles and deletes of tasks created here.
            var created = await Task.WhenAll(Enumerable.Range(0, 100).Select(i =>
                WriteAsync(i % 2 == 0 ? silos.A : silos.B, HttpMethod.Post, "/tasks", $$"""{"title":"Concurrent {{i}}","completed":{{(i % 3 == 0 ? "true" : "false")}}}""", HttpStatusCode.Created)));
            await Task.WhenAll(created.Select((c, i) =>
            {
                var id = c.Body.GetProperty("id").GetInt64();
                var silo = i % 2 == 0 ? silos.B : silos.A;
                return i % 4 == 0
                    ? WriteAsync(silo, HttpMethod.Delete, $"/tasks/{id}", null, HttpStatusCode.NoContent)
                    : WriteAsync(silo, HttpMethod.Patch, $"/tasks/{id}", $$"""{"completed":{{(i % 2 == 0 ? "true" : "false")}},"title":"Changed {{i}}"}""", HttpStatusCode.OK);
            }));

            // A last change every filter hears of: a new open task that is then completed.
            var barrier = await WriteAsync(silos.A, HttpMethod.Post, "/tasks", """{"title":"Barrier"}""", HttpStatusCode.Created);
            var last = await WriteAsync(silos.B, HttpMethod.Patch, $"/tasks/{barrier.Body.GetProperty("id").GetInt64()}", """{"completed":true}""", HttpStatusCode.OK);
            foreach (var (filter, follower, view) in followers)
            {
                SseEvent e;
                do
                {
                    e = await follower.NextAsync();
                    Apply(view, [e]);
                }
                while (long.Parse(e.Id!) < last.Seq);

                Assert.Equal(last.Seq.ToString(), e.Id);
                var list = await ListAsync(silos.A, filter);
                Assert.Equal(list.OrderBy(t => t.Key), view.OrderBy(t => t.Key));
            }
        }
        finally
        {
            foreach (var (_, follower, _) in followers)
            {
                await follower.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AnIdleFollowStreamSendsHeartbeatsAndNoEndEvent()
    {
        await using var follower = await FollowAsync(silos.B, "/tasks/stream?follow=true&completed=true&limit=1");
        var snapshot = await follower.UntilLiveAsync();
        Assert.Equal(["task", "live"], snapshot.Select(e => e.Type));
        Assert.Equal("""{"id":2,"title":"Database integration","description":"Connect SQLAlchemy with SSE","completed":true}""", snapshot[0].Data);
        Assert.Equal(1, snapshot[1].Json.GetProperty("count").GetInt32());

        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var raw = new StringBuilder();
        var buffer = new byte[1024];
        while (raw.ToString().Split("\n:\n").Length <= 2)
        {
            var read = await follower.Body.ReadAsync(buffer, cancel.Token);
            Assert.True(read > 0, "the follow stream ended");
            raw.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        Assert.DoesNotContain("event:", raw.ToString()); // nothing happened, and no `end`: only heartbeats
    }

    [Theory]
    [InlineData("/tasks/stream?follow=yes", "follow")]
    [InlineData("/tasks/stream?follow=true&follow=true", "follow")]
    [InlineData("/tasks/stream?follow=true&after=3", "after")]
    public async Task BadFollowParametersAreRefusedNamingTheParameter(string url, string parameter)
    {
        using var response = await silos.A.Http.SendAsync(Sse.Get(url));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.GetRawText());
    }

    private static void Apply(Dictionary<long, string> view, IEnumerable<SseEvent> events)
    {
        foreach (var e in events)
        {
            if (e.Type == "task")
            {
                view[e.Json.GetProperty("id").GetInt64()] = e.Data;
            }
            else if (e.Type == "task-deleted")
            {
                view.Remove(e.Json.GetProperty("id").GetInt64());
            }
        }
    }

    private static async Task<Dictionary<long, string>> ListAsync(TaskStreamServer server, string filter)
    {
        var list = await server.Http.GetFromJsonAsync<JsonElement>("/tasks/list?limit=1000" + filter);
        Assert.False(list.TryGetProperty("next_after", out _));
        return list.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetInt64(), t => t.GetRawText());
    }

    private async Task<IEnumerable<string?>> SilosAsync() =>
        (await silos.A.Http.GetFromJsonAsync<JsonElement>("/status")).GetProperty("silos").EnumerateArray().Select(s => s.GetString());

    /// <summary>A write's sequence number and body, and when its response arrived.</summary>
    private sealed record Written(long Seq, JsonElement Body, long At);

    private static async Task<Written> WriteAsync(TaskStreamServer server, HttpMethod method, string url, string? json, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(method, url);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await server.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{method} {url}: {(int)response.StatusCode} {text}");
        var body = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return new Written(long.Parse(response.Headers.GetValues("X-TaskStream-Seq").Single()), body, Stopwatch.GetTimestamp());
    }

    private static Task<FeedFollower> FollowAsync(TaskStreamServer server, string url, string? lastEventId = null) =>
        FeedFollower.OpenAsync(server.Http, url, lastEventId);

    /// <summary>The next event, which must arrive within a second of <paramref name="since"/> (a write's response).</summary>
    private static async Task<SseEvent> WithinASecondAsync(FeedFollower follower, long since)
    {
        var (next, latency) = await follower.NextAfterAsync(since);
        Assert.True(latency <= OneSecond, $"{next.Type} {next.Id} arrived {latency.TotalMilliseconds:F0} ms after the write");
        return next;
    }
}
