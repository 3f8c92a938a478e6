using System.Net;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>/tasks/list and /status, on each store. The host caps a list at two tasks (TaskStream:List:MaxTasks=2).</summary>
public abstract class ListAndStatusTests(StoreHost host)
{
    private HttpClient Http => host.Server.Http;

    [Fact]
    public async Task ListReturnsTheFilteredTasksWithBooleanCompletedAndTheirCount()
    {
        var json = await Http.GetStringAsync("/tasks/list?completed=true");

        Assert.Equal(
            "{\"tasks\":[" +
            "{\"id\":2,\"title\":\"Database integration\",\"description\":\"Connect SQLAlchemy with SSE\",\"completed\":true}," +
            "{\"id\":4,\"title\":\"Write documentation\",\"description\":\"Document best practices\",\"completed\":true}]," +
            "\"total\":2,\"streaming_available\":true}",
            json);
    }

    [Theory]
    [InlineData("", new long[] { 1, 2 }, 2L)]
    [InlineData("after=2", new long[] { 3, 4 }, 4L)]
    [InlineData("after=4", new long[] { 5 }, null)]
    [InlineData("completed=false", new long[] { 1, 3 }, 3L)]
    [InlineData("completed=false&after=3", new long[] { 5 }, null)]
    [InlineData("limit=5", new long[] { 1, 2 }, 2L)]
    [InlineData("limit=2", new long[] { 1, 2 }, null)]
    [InlineData("limit=1", new long[] { 1 }, null)]
    [InlineData("after=5", new long[0], null)]
    public async Task ListStopsAtMaxTasksAndSaysWhereToContinue(string queryString, long[] expectedIds, long? nextAfter)
    {
        var list = JsonDocument.Parse(await Http.GetStringAsync($"/tasks/list?{queryString}")).RootElement;

        Assert.Equal(expectedIds, list.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("id").GetInt64()));
        Assert.Equal(expectedIds.Length, list.GetProperty("total").GetInt32());
        Assert.Equal(nextAfter, list.TryGetProperty("next_after", out var next) ? next.GetInt64() : null);
    }

    [Fact]
    public async Task GetTasksIsTheSameListAsTasksList()
    {
        using var response = await Http.GetAsync("/tasks?completed=false&after=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(await Http.GetStringAsync("/tasks/list?completed=false&after=1"), await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task HeadOnStatusAnswersLikeGetWithoutABody()
    {
        using var response = await Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/status"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task StatusDescribesTheSiloAndItsLiveCounts()
    {
        var status = JsonDocument.Parse(await Http.GetStringAsync("/status")).RootElement;

        Assert.Equal(
            ["status", "database", "streaming", "silo", "silos", "active_streams", "open_connections", "query_grains"],
            status.EnumerateObject().Select(p => p.Name));
        Assert.Equal("ready", status.GetProperty("status").GetString());
        Assert.Equal(host.Provider, status.GetProperty("database").GetString());
        Assert.Equal("enabled", status.GetProperty("streaming").GetString());
        Assert.StartsWith("S127.0.0.1:", status.GetProperty("silo").GetString());
        Assert.Equal([status.GetProperty("silo").GetString()], status.GetProperty("silos").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(JsonValueKind.Number, status.GetProperty("active_streams").ValueKind);
        Assert.Equal(JsonValueKind.Number, status.GetProperty("open_connections").ValueKind);
        Assert.Equal(JsonValueKind.Number, status.GetProperty("query_grains").ValueKind);
    }

    [Fact]
    public async Task UnknownRoutesGetA404Problem()
    {
        // Not /tasks/nope: that is GET /tasks/{id} with a bad id, a 400 naming id (TaskWriteTests).
        using var response = await Http.GetAsync("/tasks/1/nope");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}

[Collection(nameof(FastHost))]
public sealed class SqliteListAndStatusTests(FastHost host) : ListAndStatusTests(host);

[Collection(nameof(PostgresFastHost))]
public sealed class PostgresListAndStatusTests(PostgresFastHost host) : ListAndStatusTests(host);
