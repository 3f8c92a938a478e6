using System.Globalization;
using System.Net;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// With no write token configured, a write is trusted as this machine's only when it comes from loopback, is
/// addressed to a loopback name and is not sent by another site's page. A DNS-rebinding page reaches 127.0.0.1
/// under its own name (Host: rebind.example), and the browser calls that same-origin.
/// </summary>
public sealed class LoopbackTrustTests(OpenWriteHost host) : IClassFixture<OpenWriteHost>
{
    private int Port => host.Server.BaseAddress.Port;

    [Theory]
    [InlineData("POST")]
    [InlineData("PATCH")]
    [InlineData("DELETE")]
    public async Task AWriteAddressedToAnotherHostNameIsRefusedEvenFromLoopbackAndChangesNothing(string method)
    {
        var before = await host.ListAsync();
        var request = Write(method);
        request.Headers.Host = $"rebind.example:{Port}";
        request.Headers.Add("Origin", $"http://rebind.example:{Port}");
        request.Headers.Add("Sec-Fetch-Site", "same-origin"); // what the browser says of a rebound page's own request

        using var response = await host.Loopback.SendAsync(request);

        var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains("rebind.example", problem.GetProperty("detail").GetString());
        Assert.Contains("TaskStream:Auth:WriteTokens", problem.GetProperty("detail").GetString());
        Assert.Equal(before, await host.ListAsync());
    }

    [Theory]
    [InlineData("http://evil.example", null)]
    [InlineData("null", null)]
    [InlineData(null, "cross-site")]
    [InlineData("http://localhost:1", "same-site")]
    public async Task AWriteFromAnotherSitesPageIsRefused(string? origin, string? fetchSite)
    {
        var request = Write("POST");
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        if (fetchSite is not null)
        {
            request.Headers.Add("Sec-Fetch-Site", fetchSite);
        }

        using var response = await host.Loopback.SendAsync(request);

        var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains("TaskStream:Auth:WriteTokens", problem.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    [InlineData("[::1]")]
    public async Task AWriteFromThePagesOwnOriginUnderALoopbackNameIsAccepted(string name)
    {
        var request = Write("POST");
        request.Headers.Host = $"{name}:{Port}";
        request.Headers.Add("Origin", $"http://{name}:{Port}");
        request.Headers.Add("Sec-Fetch-Site", "same-origin");

        using var response = await host.Loopback.SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private static HttpRequestMessage Write(string method) => method switch
    {
        "POST" => WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Rebound?"}""", token: null),
        "PATCH" => WriteHost.Request(HttpMethod.Patch, "/tasks/1", """{"completed":true}""", token: null),
        _ => WriteHost.Request(HttpMethod.Delete, "/tasks/2", token: null),
    };
}

/// <summary>Hosts named in ASP.NET Core's <c>AllowedHosts</c> are this server's own names: tokenless writes may use them.</summary>
public sealed class AllowedHostsTests
{
    [Fact]
    public async Task ANameInAllowedHostsMayTakeTokenlessWritesFromLoopbackButNotFromAnotherSitesPage()
    {
        await using var server = await TaskStreamServer.StartAsync(("AllowedHosts", "tasks.test;localhost;127.0.0.1"));
        var port = server.BaseAddress.Port.ToString(CultureInfo.InvariantCulture);

        using var named = await server.Http.SendAsync(Addressed($"tasks.test:{port}", origin: $"http://tasks.test:{port}"));
        using var crossSite = await server.Http.SendAsync(Addressed($"tasks.test:{port}", origin: "http://evil.example"));
        using var other = await server.Http.SendAsync(Addressed($"rebind.example:{port}", origin: null));

        Assert.Equal(HttpStatusCode.Created, named.StatusCode);
        await WriteHost.AssertProblemAsync(crossSite, HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.BadRequest, other.StatusCode); // ASP.NET Core's host filtering, before any of ours
    }

    private static HttpRequestMessage Addressed(string host, string? origin)
    {
        var request = WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Named"}""", token: null);
        request.Headers.Host = host;
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return request;
    }
}
