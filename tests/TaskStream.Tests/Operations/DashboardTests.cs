using System.Net;
using System.Net.Http.Headers;
using System.Text;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// The Orleans dashboard at /dashboard and its guard. "Another machine" is a <see cref="RemoteNetwork"/>: a network
/// namespace of the test's own, whose connections arrive from its address, not from loopback.
/// </summary>
public sealed class DashboardTests
{
    private const string Password = "correct horse battery staple";

    [Fact]
    public async Task OutsideDevelopmentTheDashboardIsOffUnlessEnabled()
    {
        await using var server = await TaskStreamServer.StartAsync();

        using var response = await server.Http.GetAsync("/dashboard/");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task InDevelopmentTheDashboardIsOnAndServedToLoopbackClients()
    {
        await using var server = await TaskStreamServer.StartAsync(("environment", "Development"));

        using var response = await server.Http.GetAsync("/dashboard/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task WithoutAPasswordTheDashboardServesLoopbackClientsAndRefusesClientsFromElsewhere()
    {
        using var network = RemoteNetwork.Create();
        await using var server = await TaskStreamServer.StartAsync(
            ("urls", $"http://127.0.0.1:0;http://{network.ServerAddress}:0"), ("TaskStream:Dashboard:Enabled", "true"));
        using var fromOutside = ClientFor(server, network);

        using var loopback = await server.Http.GetAsync("/dashboard/");
        using var refused = await fromOutside.GetAsync("/dashboard/");
        using var refusedDeeper = await fromOutside.GetAsync("/dashboard/index.min.js");
        using var tasks = await fromOutside.GetAsync("/tasks/list?limit=1");

        Assert.Equal(HttpStatusCode.OK, loopback.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Contains("TaskStream:Dashboard:Password", await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Forbidden, refusedDeeper.StatusCode);
        Assert.Equal(HttpStatusCode.OK, tasks.StatusCode); // the guard covers the dashboard only
    }

    [Fact]
    public async Task WithAPasswordTheDashboardAsksEveryClientForItOverHttpBasic()
    {
        using var network = RemoteNetwork.Create();
        await using var server = await TaskStreamServer.StartAsync(
            ("urls", $"http://127.0.0.1:0;http://{network.ServerAddress}:0"), ("TaskStream:Dashboard:Enabled", "true"), ("TaskStream:Dashboard:Password", Password));
        using var fromOutside = ClientFor(server, network);

        using var none = await fromOutside.GetAsync("/dashboard/");
        using var noneFromLoopback = await server.Http.GetAsync("/dashboard/");
        using var wrong = await fromOutside.SendAsync(WithBasic("/dashboard/", "operator", "not the password at all"));
        using var notBasic = await fromOutside.SendAsync(WithHeader("/dashboard/", "Bearer " + Password));
        using var right = await fromOutside.SendAsync(WithBasic("/dashboard/", "operator", Password));
        using var rightFromLoopback = await server.Http.SendAsync(WithBasic("/dashboard/", "anyone", Password));

        foreach (var response in new[] { none, noneFromLoopback, wrong, notBasic })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Basic", response.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rightFromLoopback.StatusCode);
    }

    [Fact]
    public async Task WithoutAPasswordTheDashboardRefusesAnotherHostNameOrAnotherSitesPageEvenFromLoopback()
    {
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Dashboard:Enabled", "true"));
        var port = server.BaseAddress.Port;

        using var rebound = await server.Http.SendAsync(WithHeaders("/dashboard/", ("Host", $"rebind.example:{port}")));
        using var crossSite = await server.Http.SendAsync(WithHeaders("/dashboard/", ("Sec-Fetch-Site", "cross-site")));
        using var localhost = await server.Http.SendAsync(WithHeaders("/dashboard/", ("Host", $"localhost:{port}")));

        foreach (var refused in new[] { rebound, crossSite })
        {
            var problem = await WriteHost.AssertProblemAsync(refused, HttpStatusCode.Forbidden);
            Assert.Contains("TaskStream:Dashboard:Password", problem.GetProperty("detail").GetString());
        }

        Assert.Equal(HttpStatusCode.OK, localhost.StatusCode);
    }

    [Fact]
    public async Task PasswordAttemptsPastTheWriteLimitGet429WithRetryAfterWhileAnotherClientGetsIn()
    {
        using var network = RemoteNetwork.Create();
        await using var server = await TaskStreamServer.StartAsync(
            ("urls", $"http://127.0.0.1:0;http://{network.ServerAddress}:0"), ("TaskStream:Dashboard:Enabled", "true"),
            ("TaskStream:Dashboard:Password", Password), ("TaskStream:Limits:WriteBurst", "3"), ("TaskStream:Limits:WritesPerSecond", "1"));
        using var fromOutside = ClientFor(server, network);

        var refused = 0;
        HttpResponseMessage response;
        while ((response = await fromOutside.SendAsync(WithBasic("/dashboard/", "guesser", $"guess {refused}"))).StatusCode == HttpStatusCode.Unauthorized)
        {
            response.Dispose();
            Assert.True(++refused < 20, "no 429 after 20 wrong passwords in a row");
        }

        using var limited = response;
        using var rightButLimited = await fromOutside.SendAsync(WithBasic("/dashboard/", "operator", Password));
        using var otherClient = await server.Http.SendAsync(WithBasic("/dashboard/", "operator", Password));

        Assert.True(refused >= 3, $"only {refused} attempts before the first 429");
        foreach (var tooMany in new[] { limited, rightButLimited })
        {
            await WriteHost.AssertProblemAsync(tooMany, HttpStatusCode.TooManyRequests);
            Assert.InRange(tooMany.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
        }

        Assert.Equal(HttpStatusCode.OK, otherClient.StatusCode);
    }

    [Fact]
    public async Task APasswordTooShortToGuardAnythingStopsTheHostAtStartNamingTheKey()
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => TaskStreamServer.StartAsync(
            ("TaskStream:Dashboard:Enabled", "true"), ("TaskStream:Dashboard:Password", "short")));

        Assert.Contains("TaskStream:Dashboard:Password", failure.Message);
    }

    private static HttpClient ClientFor(TaskStreamServer server, RemoteNetwork network) =>
        network.Client(server.Addresses.Single(a => a.Host == network.ServerAddress.ToString()));

    private static HttpRequestMessage WithBasic(string path, string user, string password) =>
        WithHeader(path, "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    private static HttpRequestMessage WithHeaders(string path, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    private static HttpRequestMessage WithHeader(string path, string authorization)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
        return request;
    }
}
