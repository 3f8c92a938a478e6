using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>GET /openapi/v1.json against the endpoints the host really maps.</summary>
public sealed class OpenApiTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    // Left out: the document itself; /metrics, a Prometheus scrape target rather than the API; the page and its assets,
    // and the API reference (/docs/…) with Scalar's, excluded from the description (they are HTML, not API). /health/*
    // and /dashboard map no HTTP method, so they are not enumerated.
    private static readonly string[] NotInTheDocument = ["/openapi/{documentName}.json", "/metrics", "/", "/page/app.js", "/page/app.css"];

    [Fact]
    public async Task EveryMappedRouteAppearsWithEachOfItsMethods()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var paths = (await GetDocumentAsync(server)).GetProperty("paths");

        var endpoints = server.GetService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => (Route: "/" + e.RoutePattern.RawText!.Trim('/'), Methods: e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods))
            .Where(e => e.Methods is not null && !NotInTheDocument.Contains(e.Route) && !e.Route.StartsWith("/dashboard", StringComparison.Ordinal)
                && !e.Route.StartsWith("/docs", StringComparison.Ordinal))
            .ToList();

        Assert.Contains(endpoints, e => e.Route == "/tasks/stream");
        foreach (var (route, methods) in endpoints)
        {
            Assert.True(paths.TryGetProperty(route, out var path), $"{route} is missing from the document");
            foreach (var method in methods!)
            {
                Assert.True(path.TryGetProperty(method.ToLowerInvariant(), out _), $"{method} {route} is missing from the document");
            }
        }
    }

    [Fact]
    public async Task StreamsAreEventStreamsWithTheirEventsAndErrorsAreProblems()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var paths = (await GetDocumentAsync(server)).GetProperty("paths");

        foreach (var route in new[] { "/tasks/stream", "/tasks/stream-function" })
        {
            var get = paths.GetProperty(route).GetProperty("get");
            var events = get.GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("text/event-stream").GetProperty("schema");
            Assert.Equal(["task", "task-deleted", "live", "reset", "end"],
                events.GetProperty("oneOf").EnumerateArray().Select(e => e.GetProperty("properties").GetProperty("event").GetProperty("const").GetString()));
            Assert.Contains(get.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "Last-Event-ID");
            var limit = get.GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "limit");
            Assert.Equal("1000000000", limit.GetProperty("schema").GetProperty("maximum").GetRawText());
        }

        var post = paths.GetProperty("/tasks").GetProperty("post");
        Assert.Contains(post.GetProperty("parameters").EnumerateArray(), p => p.GetProperty("name").GetString() == "Idempotency-Key");
        Assert.True(post.GetProperty("responses").GetProperty("201").GetProperty("headers").TryGetProperty("X-TaskStream-Seq", out _));
        Assert.True(post.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema")
            .GetProperty("properties").TryGetProperty("title", out _));

        var errors = paths.EnumerateObject().SelectMany(path => path.Value.EnumerateObject())
            .SelectMany(operation => operation.Value.GetProperty("responses").EnumerateObject().Where(r => r.Name[0] is '4' or '5')
                .Select(r => (Operation: operation.Name, r.Name, r.Value))).ToList();
        Assert.NotEmpty(errors);
        Assert.All(errors, error => Assert.True(error.Value.GetProperty("content").TryGetProperty("application/problem+json", out _),
            $"{error.Operation} {error.Name} is not application/problem+json"));
    }

    [Fact]
    public async Task WritesDeclareTheirBearerTokenAndTheLengthLimitsTheServerEnforces()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var document = await GetDocumentAsync(server);
        var paths = document.GetProperty("paths");

        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("WriteToken");
        Assert.Equal("http", scheme.GetProperty("type").GetString());
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());
        foreach (var (route, method) in new[] { ("/tasks", "post"), ("/tasks/{id}", "patch"), ("/tasks/{id}", "delete") })
        {
            var security = paths.GetProperty(route).GetProperty(method).GetProperty("security").EnumerateArray().ToList();
            Assert.Contains(security, requirement => requirement.TryGetProperty("WriteToken", out _));
        }

        Assert.False(paths.GetProperty("/tasks").GetProperty("get").TryGetProperty("security", out _));

        var create = paths.GetProperty("/tasks").GetProperty("post").GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema");
        var title = create.GetProperty("properties").GetProperty("title");
        Assert.Equal((1, 200), (title.GetProperty("minLength").GetInt32(), title.GetProperty("maxLength").GetInt32()));
        Assert.Equal(2000, create.GetProperty("properties").GetProperty("description").GetProperty("maxLength").GetInt32());
        Assert.Equal(["title"], create.GetProperty("required").EnumerateArray().Select(r => r.GetString()));

        // The limits are the server's: one character more is refused.
        using var tooLong = await server.Http.PostAsJsonAsync("/tasks", new { title = new string('x', title.GetProperty("maxLength").GetInt32() + 1) });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
    }

    [Fact]
    public async Task TheResponseHeadersTheServerSendsAreDeclaredWhereTheyAreSent()
    {
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Streaming:EventIntervalMs", "0"));
        var paths = (await GetDocumentAsync(server)).GetProperty("paths");

        using var stream = await server.Http.GetAsync("/tasks/stream?limit=1");
        Assert.True(stream.Headers.Contains("X-TaskStream-Silo"));
        Assert.True(HeadersOf(paths, "/tasks/stream", "get", "200").TryGetProperty("X-TaskStream-Silo", out _));

        using var first = await server.Http.SendAsync(KeyedCreate());
        using var replayed = await server.Http.SendAsync(KeyedCreate());
        Assert.Equal("true", replayed.Headers.GetValues("Idempotent-Replayed").Single());
        var created = HeadersOf(paths, "/tasks", "post", "201");
        Assert.True(created.TryGetProperty("Idempotent-Replayed", out _));
        Assert.True(created.TryGetProperty("X-TaskStream-Seq", out _));

        // Every refusal that says when to come back declares Retry-After: the rate limits and caps (429, 503).
        var refusals = paths.EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .SelectMany(operation => operation.Value.GetProperty("responses").EnumerateObject()
                .Where(r => r.Name is "429" or "503").Select(r => (Where: $"{operation.Name} {path.Name} {r.Name}", Response: r.Value)))).ToList();
        Assert.Contains(refusals, r => r.Where == "post /tasks 429");
        Assert.Contains(refusals, r => r.Where == "get /tasks/list 503");
        Assert.All(refusals, r => Assert.True(r.Response.GetProperty("headers").TryGetProperty("Retry-After", out _), $"{r.Where} lacks Retry-After"));
    }

    private static HttpRequestMessage KeyedCreate() => new(HttpMethod.Post, "/tasks")
    {
        Headers = { { "Idempotency-Key", "openapi-headers-1" } },
        Content = JsonContent.Create(new { title = "Declared" }),
    };

    private static JsonElement HeadersOf(JsonElement paths, string route, string method, string status) =>
        paths.GetProperty(route).GetProperty(method).GetProperty("responses").GetProperty(status).GetProperty("headers");

    [Fact]
    public async Task TheDocumentPassesAnIndependentOpenApi31Validator()
    {
        await using var server = await TaskStreamServer.StartAsync();
        await using var script = NodeScript.Start("openapi-validate.mjs", new Uri(server.BaseAddress, "/openapi/v1.json").ToString());

        var report = await script.NextAsync("validated", Wait);

        Assert.True(report.GetProperty("valid").GetBoolean(), report.GetRawText());
        Assert.Equal("3.1", report.GetProperty("version").GetString());
    }

    private static async Task<JsonElement> GetDocumentAsync(TaskStreamServer server)
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        response.EnsureSuccessStatusCode();
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }
}
