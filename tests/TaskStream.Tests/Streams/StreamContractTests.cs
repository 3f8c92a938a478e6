using System.Net;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>The SSE contract of /tasks/stream and /tasks/stream-function on each store, read byte for byte and with SseParser.</summary>
public abstract class StreamContractTests(StoreHost host)
{
    private HttpClient Http => host.Server.Http;

    [Fact]
    public async Task StreamSendsEachTaskAsOneJsonEventInIdOrderThenAnEndEventWithoutId()
    {
        var silo = JsonDocument.Parse(await Http.GetStringAsync("/status")).RootElement.GetProperty("silo").GetString();
        var response = await Sse.ReadAllAsync(Http, "/tasks/stream");

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal(
            "event: task\ndata: {\"id\":1,\"title\":\"Implement SSE streaming\",\"description\":\"Add server-sent events to API\",\"completed\":false}\nid: 1\nretry: 3000\n\n" +
            "event: task\ndata: {\"id\":2,\"title\":\"Database integration\",\"description\":\"Connect SQLAlchemy with SSE\",\"completed\":true}\nid: 2\n\n" +
            "event: task\ndata: {\"id\":3,\"title\":\"Add filtering\",\"description\":\"Support query parameters in streams\",\"completed\":false}\nid: 3\n\n" +
            "event: task\ndata: {\"id\":4,\"title\":\"Write documentation\",\"description\":\"Document best practices\",\"completed\":true}\nid: 4\n\n" +
            "event: task\ndata: {\"id\":5,\"title\":\"Performance testing\",\"description\":\"Test with large datasets\",\"completed\":false}\nid: 5\n\n" +
            "event: end\ndata: {\"count\":5,\"silo\":\"" + silo + "\",\"relay\":\"" + silo + "\"}\n\n",
            response.Raw);
    }

    [Theory]
    [InlineData("completed=true", new long[] { 2, 4 })]
    [InlineData("completed=TRUE", new long[] { 2, 4 })]
    [InlineData("completed=false", new long[] { 1, 3, 5 })]
    [InlineData("completed=False", new long[] { 1, 3, 5 })]
    [InlineData("limit=3", new long[] { 1, 2, 3 })]
    [InlineData("limit=1000000000", new long[] { 1, 2, 3, 4, 5 })]
    [InlineData("completed=false&limit=2", new long[] { 1, 3 })]
    public async Task FiltersAndLimitSelectTheMatchingTasks(string queryString, long[] expectedIds)
    {
        var response = await Sse.ReadAllAsync(Http, $"/tasks/stream?{queryString}");

        Assert.Equal(expectedIds, response.TaskIds);
        var end = Assert.Single(response.Events, e => e.Type == "end");
        Assert.Same(end, response.Events[^1]);
        Assert.Equal(expectedIds.Length, end.Json.GetProperty("count").GetInt64());
        Assert.Null(end.Id);
    }

    [Theory]
    [InlineData("")]
    [InlineData("?completed=true")]
    [InlineData("?completed=false&limit=2")]
    [InlineData("?after=2")]
    public async Task BothRoutesSendTheSameBytes(string queryString)
    {
        var classic = await Sse.ReadAllAsync(Http, $"/tasks/stream{queryString}");
        var function = await Sse.ReadAllAsync(Http, $"/tasks/stream-function{queryString}");

        Assert.Equal(classic.Status, function.Status);
        Assert.NotEmpty(classic.Raw);
        Assert.Equal(classic.Raw, function.Raw);
    }

    [Fact]
    public async Task StreamHeadersForbidCachingAndProxyBuffering()
    {
        var response = await Sse.ReadAllAsync(Http, "/tasks/stream");

        Assert.Equal("text/event-stream", response.ContentHeaders?.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl?.NoCache);
        Assert.True(response.Headers.CacheControl?.NoStore);
        Assert.Equal("no", Assert.Single(response.Headers.GetValues("X-Accel-Buffering")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("5")]
    public async Task EveryStreamResponseNamesTheSiloThatRelayedIt(string? lastEventId)
    {
        var silo = JsonDocument.Parse(await Http.GetStringAsync("/status")).RootElement.GetProperty("silo").GetString();
        var response = await Sse.ReadAllAsync(Http, "/tasks/stream", lastEventId);

        Assert.Equal(silo, Assert.Single(response.Headers.GetValues("X-TaskStream-Silo")));
    }

    [Fact]
    public async Task OnlyTheFirstEventCarriesTheRetryInterval()
    {
        var response = await Sse.ReadAllAsync(Http, "/tasks/stream");

        Assert.Equal(TimeSpan.FromMilliseconds(3000), response.Events[0].Retry);
        Assert.Equal(1, response.Raw.Split("retry:").Length - 1);
    }

    [Theory]
    [InlineData("/tasks/stream", "1", new long[] { 2, 3, 4, 5 })]
    [InlineData("/tasks/stream?completed=false", "1", new long[] { 3, 5 })]
    [InlineData("/tasks/stream?completed=true", "2", new long[] { 4 })]
    [InlineData("/tasks/stream?after=1", "3", new long[] { 4, 5 })]
    public async Task LastEventIdResumesStrictlyAfterThatTaskWithTheSameFilter(string url, string lastEventId, long[] expectedIds)
    {
        var response = await Sse.ReadAllAsync(Http, url, lastEventId);

        Assert.Equal(HttpStatusCode.OK, response.Status);
        Assert.Equal(expectedIds, response.TaskIds);
        Assert.Equal(expectedIds.Length, response.Events[^1].Json.GetProperty("count").GetInt64());
    }

    [Theory]
    [InlineData("after=2", new long[] { 3, 4, 5 })]
    [InlineData("after=2&completed=true", new long[] { 4 })]
    [InlineData("after=0", new long[] { 1, 2, 3, 4, 5 })]
    public async Task AfterResumesAFirstConnectStrictlyAfterThatTask(string queryString, long[] expectedIds)
    {
        var response = await Sse.ReadAllAsync(Http, $"/tasks/stream?{queryString}");

        Assert.Equal(expectedIds, response.TaskIds);
    }

    [Theory]
    [InlineData("/tasks/stream", "5")]
    [InlineData("/tasks/stream?completed=true", "4")]
    [InlineData("/tasks/stream?completed=false", "5")]
    [InlineData("/tasks/stream", "999")]
    [InlineData("/tasks/stream?after=5", null)]
    [InlineData("/tasks/stream-function?limit=2", "2")]
    public async Task ResumingWithNothingLeftAnswers204SoBrowsersStopReconnecting(string url, string? lastEventId)
    {
        var response = await Sse.ReadAllAsync(Http, url, lastEventId);

        Assert.Equal(HttpStatusCode.NoContent, response.Status);
        Assert.Empty(response.Raw);
    }

    [Theory]
    [InlineData("limit=3", "2", new long[] { 3 })]
    [InlineData("limit=2&completed=false", "1", new long[] { 3 })]
    [InlineData("limit=2&after=1", "2", new long[] { 3 })]
    public async Task ResumingALimitedStreamSendsOnlyWhatIsLeftOfIt(string queryString, string lastEventId, long[] expectedIds)
    {
        // The stream is "the first N matching tasks"; a reconnect must not stretch it past N.
        var response = await Sse.ReadAllAsync(Http, $"/tasks/stream?{queryString}", lastEventId);

        Assert.Equal(expectedIds, response.TaskIds);
    }

    [Fact]
    public async Task AnEmptyLastEventIdCountsAsAFirstConnect()
    {
        var response = await Sse.ReadAllAsync(Http, "/tasks/stream", lastEventId: "");

        Assert.Equal([1, 2, 3, 4, 5], response.TaskIds);
    }
}

[Collection(nameof(FastHost))]
public sealed class SqliteStreamContractTests(FastHost host) : StreamContractTests(host);

[Collection(nameof(PostgresFastHost))]
public sealed class PostgresStreamContractTests(PostgresFastHost host) : StreamContractTests(host);
