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

    private static HttpRequestMessage WithHeader(string path, string authorization)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
        return request;
    }
}
