using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>GET /openapi/v1.json against the endpoints the host really maps.</summary>
public sealed class OpenApiTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    // Left out: the document itself; /metrics, a Prometheus scrape target rather than the API; the page and its assets,
    // excluded from the description (they are HTML, not API). /health/* and /dashboard map no HTTP method, so they are not enumerated.
    private static readonly string[] NotInTheDocument = ["/openapi/{documentName}.json", "/metrics", "/", "/page/app.js", "/page/app.css"];

    [Fact]
    public async Task EveryMappedRouteAppearsWithEachOfItsMethods()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var paths = (await GetDocumentAsync(server)).GetProperty("paths");

        var endpoints = server.GetService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => (Route: "/" + e.RoutePattern.RawText!.Trim('/'), Methods: e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods))
            .Where(e => e.Methods is not null && !NotInTheDocument.Contains(e.Route) && !e.Route.StartsWith("/dashboard", StringComparison.Ordinal))
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
