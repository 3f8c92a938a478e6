using System.Net;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>A client's mistake gets a 400 problem+json naming the parameter, before any stream starts.</summary>
[Collection(nameof(FastHost))]
public sealed class BadInputTests(FastHost host)
{
    public static TheoryData<string, string> BadQueries => new()
    {
        { "limit=0", "limit" },
        { "limit=-1", "limit" },
        { "limit=abc", "limit" },
        { "limit=", "limit" },
        { "limit=1.5", "limit" },
        { "limit=+3", "limit" },
        { "limit=%203", "limit" },
        { "limit=1000000001", "limit" },
        { "limit=99999999999999999999999", "limit" },
        { "limit=1&limit=2", "limit" },
        { "completed=maybe", "completed" },
        { "completed=1", "completed" },
        { "completed=", "completed" },
        { "completed=true&completed=false", "completed" },
        { "after=-1", "after" },
        { "after=x", "after" },
        { "after=1e3", "after" },
    };

    [Theory]
    [MemberData(nameof(BadQueries))]
    public async Task StreamRefusesABadQueryWith400ProblemNamingTheParameter(string queryString, string parameter) =>
        await AssertProblemAsync(Sse.Get($"/tasks/stream?{queryString}"), parameter);

    [Theory]
    [MemberData(nameof(BadQueries))]
    public async Task ListRefusesABadQueryWith400ProblemNamingTheParameter(string queryString, string parameter) =>
        await AssertProblemAsync(new HttpRequestMessage(HttpMethod.Get, $"/tasks/list?{queryString}"), parameter);

    [Theory]
    [InlineData("abc")]
    [InlineData("-3")]
    [InlineData("1.0")]
    [InlineData("99999999999999999999999")]
    public async Task StreamRefusesAnUnparsableLastEventId(string lastEventId) =>
        await AssertProblemAsync(Sse.Get("/tasks/stream", lastEventId), "Last-Event-ID");

    [Fact]
    public async Task StreamRefusesTwoLastEventIdHeaders()
    {
        var request = Sse.Get("/tasks/stream");
        request.Headers.TryAddWithoutValidation("Last-Event-ID", ["1", "2"]);
        await AssertProblemAsync(request, "Last-Event-ID");
    }

    [Fact]
    public async Task AllBadParametersAreNamedAtOnce()
    {
        var problem = await AssertProblemAsync(Sse.Get("/tasks/stream?limit=0&completed=maybe&after=-1"), "limit");

        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty("completed", out _));
        Assert.True(errors.TryGetProperty("after", out _));
    }

    [Theory]
    [InlineData("/tasks/stream")]
    [InlineData("/tasks/list")]
    public async Task AQueryStringOver2048CharactersIsRefusedNamingQuery(string route)
    {
        var padding = new string('x', 2048 - "?limit=5&pad=".Length);
        using var longest = await host.Server.Http.GetAsync($"/tasks/list?limit=5&pad={padding}");
        Assert.Equal(HttpStatusCode.OK, longest.StatusCode);

        await AssertProblemAsync(Sse.Get($"{route}?limit=5&pad={padding}x"), "query");
    }

    [Theory]
    [InlineData("/tasks/stream")]
    [InlineData("/tasks/list")]
    public async Task MoreThan32ParametersAreRefusedNamingQueryEvenUnknownOrRepeatedOnes(string route)
    {
        var unknown = string.Join("&", Enumerable.Range(0, 31).Select(i => $"_={i}"));
        using var most = await host.Server.Http.GetAsync($"/tasks/list?limit=5&{unknown}");
        Assert.Equal(HttpStatusCode.OK, most.StatusCode);

        await AssertProblemAsync(Sse.Get($"{route}?limit=5&{unknown}&_=31"), "query");
    }

    [Theory]
    [InlineData("GET", "/nothing/here", HttpStatusCode.NotFound)]
    [InlineData("DELETE", "/status", HttpStatusCode.MethodNotAllowed)]
    public async Task NotFoundAndMethodNotAllowedAreProblemJsonEvenToAnEventSource(string method, string url, HttpStatusCode status)
    {
        var request = Sse.Get(url); // Accept: text/event-stream, as an EventSource sends
        request.Method = new HttpMethod(method);
        using var response = await host.Server.Http.SendAsync(request);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal((int)status, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetInt32());
    }

    private async Task<JsonElement> AssertProblemAsync(HttpRequestMessage request, string parameter)
    {
        using var response = await host.Server.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out var messages), body);
        Assert.NotEmpty(messages.EnumerateArray());
        Assert.Contains(parameter, problem.GetProperty("detail").GetString());
        return problem;
    }
}
