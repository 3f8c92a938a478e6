using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// The Orleans dashboard at /dashboard and its guard. "Another machine" is this machine's own non-loopback
/// address: the connection then arrives from that address, not from loopback, and never leaves the machine.
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
        var outside = NonLoopbackAddress();
        await using var server = await TaskStreamServer.StartAsync(
            ("urls", $"http://127.0.0.1:0;http://{outside}:0"), ("TaskStream:Dashboard:Enabled", "true"));
        using var fromOutside = ClientFor(server, outside);

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
        var outside = NonLoopbackAddress();
        await using var server = await TaskStreamServer.StartAsync(
            ("urls", $"http://127.0.0.1:0;http://{outside}:0"), ("TaskStream:Dashboard:Enabled", "true"), ("TaskStream:Dashboard:Password", Password));
        using var fromOutside = ClientFor(server, outside);

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

    /// <summary>This machine's first non-loopback IPv4 address (192.0.2.2 on eth0 here), found at run time.</summary>
    private static IPAddress NonLoopbackAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
        ?? throw new InvalidOperationException("This test needs a non-loopback IPv4 address on an interface that is up.");

    private static HttpClient ClientFor(TaskStreamServer server, IPAddress address) => new()
    {
        BaseAddress = server.Addresses.Single(a => a.Host == address.ToString()),
        Timeout = TimeSpan.FromSeconds(30),
    };

    private static HttpRequestMessage WithBasic(string path, string user, string password) =>
        WithHeader(path, "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    private static HttpRequestMessage WithHeader(string path, string authorization)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
        return request;
    }
}
