using System.Net;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>With write tokens configured, each write endpoint needs one of them, from any address; reads stay open.</summary>
public sealed class WriteAuthorizationTests(TokenWriteHost host) : IClassFixture<TokenWriteHost>
{
    public static TheoryData<string> Endpoints => new() { "POST", "PATCH", "DELETE" };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task AWriteWithoutATokenIs401WithABearerChallengeAndChangesNothing(string endpoint) =>
        await AssertUnauthorizedAsync(endpoint, token: null, scheme: null);

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task AWriteWithAWrongTokenIs401AndChangesNothing(string endpoint) =>
        await AssertUnauthorizedAsync(endpoint, token: "not-a-write-token", scheme: "Bearer");

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task AWriteWithATokenThatOnlyStartsLikeARightOneIs401(string endpoint) =>
        await AssertUnauthorizedAsync(endpoint, token: WriteHost.Token[..^1], scheme: "Bearer");

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task AWriteWithARightTokenInAnotherSchemeIs401(string endpoint) =>
        await AssertUnauthorizedAsync(endpoint, token: WriteHost.Token, scheme: "Basic");

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task AWriteWithEitherConfiguredTokenSucceeds(string endpoint)
    {
        foreach (var token in new[] { WriteHost.Token, WriteHost.OtherToken })
        {
            var (request, id) = await WriteToAsync(endpoint, token);
            using var response = await host.Loopback.SendAsync(request);

            Assert.Equal(endpoint switch { "POST" => HttpStatusCode.Created, "PATCH" => HttpStatusCode.OK, _ => HttpStatusCode.NoContent },
                response.StatusCode);
            if (id is not null)
            {
                using var task = await host.Loopback.GetAsync($"/tasks/{id}");
                Assert.Equal(endpoint == "PATCH" ? HttpStatusCode.OK : HttpStatusCode.NotFound, task.StatusCode);
                Assert.Equal(endpoint == "PATCH", (await task.Content.ReadAsStringAsync()).Contains("\"completed\":true"));
            }
        }
    }

    [Fact]
    public async Task ARemoteClientWithARightTokenMayWrite()
    {
        using var response = await host.Remote.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"From afar"}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task ALoopbackClientWithoutATokenIsRefusedWhenTokensAreConfigured()
    {
        using var response = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"x"}""", token: null));

        await WriteHost.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task AnUnauthorizedClientIsRefusedBeforeItsBodyIsRead()
    {
        // A body that would be 415 and 400 if it were read: the missing token is what is reported.
        using var response = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", "title=x", token: null,
            contentType: "application/x-www-form-urlencoded"));

        await WriteHost.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData(null, "application/json")]
    [InlineData(WriteHost.Token, "text/plain")]
    public async Task ARefusalOfALargeUnreadBodyClosesTheConnectionSoTheNextRequestGoesOnAFreshOne(string? token, string contentType)
    {
        // One connection at most: the valid write must not be sent on the connection the server is closing.
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = host.Loopback.BaseAddress };
        using var refused = await client.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks",
            new string('x', 30 * 1024), token: token, contentType: contentType));
        Assert.True(refused.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.UnsupportedMediaType, refused.StatusCode.ToString());
        Assert.True(refused.Headers.ConnectionClose, "the refusal says the connection closes");

        using var next = await client.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"On a fresh connection"}"""));

        Assert.Equal(HttpStatusCode.Created, next.StatusCode);
    }

    [Fact]
    public async Task ReadsNeedNoTokenFromAnyAddress()
    {
        foreach (var client in new[] { host.Loopback, host.Remote })
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/tasks/1")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/tasks/list")).StatusCode);
        }
    }

    private async Task AssertUnauthorizedAsync(string endpoint, string? token, string? scheme)
    {
        var (request, id) = await WriteToAsync(endpoint, token: null);
        if (scheme is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(scheme, token);
        }

        var before = await host.ListAsync();
        var task = id is null ? null : await host.Loopback.GetStringAsync($"/tasks/{id}");

        using var response = await host.Remote.SendAsync(request);

        var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        Assert.Contains("token", problem.GetProperty("detail").GetString());
        Assert.False(response.Headers.Contains("X-TaskStream-Seq"));
        Assert.Equal(before, await host.ListAsync());
        if (id is not null)
        {
            Assert.Equal(task, await host.Loopback.GetStringAsync($"/tasks/{id}"));
        }
    }

    /// <summary>A valid write of each kind; PATCH and DELETE act on a task created for the purpose.</summary>
    private async Task<(HttpRequestMessage Request, long? Id)> WriteToAsync(string endpoint, string? token)
    {
        if (endpoint == "POST")
        {
            return (WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Authorized?"}""", token), null);
        }

        var id = (await host.CreateAsync($"Target of {endpoint}")).GetProperty("id").GetInt64();
        return endpoint == "PATCH"
            ? (WriteHost.Request(HttpMethod.Patch, $"/tasks/{id}", """{"completed":true}""", token), id)
            : (WriteHost.Request(HttpMethod.Delete, $"/tasks/{id}", token: token), id);
    }
}

/// <summary>With no write tokens configured, loopback clients may write and nobody else may.</summary>
public sealed class OpenWriteAuthorizationTests(OpenWriteHost host) : IClassFixture<OpenWriteHost>
{
    [Fact]
    public async Task ALoopbackClientMayWriteWithoutAToken()
    {
        using var created = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Local"}""", token: null));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var location = created.Headers.Location!.OriginalString;

        using var patched = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Patch, location, """{"completed":true}""", token: null));
        using var deleted = await host.Loopback.SendAsync(WriteHost.Request(HttpMethod.Delete, location, token: null));

        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    [Theory]
    [InlineData("POST", null)]
    [InlineData("PATCH", null)]
    [InlineData("DELETE", null)]
    [InlineData("POST", "some-token")]
    public async Task ARemoteClientIs403SayingToConfigureWriteTokensAndChangesNothing(string method, string? token)
    {
        var before = await host.ListAsync();
        var task = await host.Loopback.GetStringAsync("/tasks/1");

        using var response = await host.Remote.SendAsync(WriteHost.Request(new HttpMethod(method), method == "POST" ? "/tasks" : "/tasks/1",
            method == "DELETE" ? null : """{"title":"From afar"}""", token));

        var problem = await WriteHost.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains("TaskStream:Auth:WriteTokens", problem.GetProperty("detail").GetString());
        Assert.Equal(before, await host.ListAsync());
        Assert.Equal(task, await host.Loopback.GetStringAsync("/tasks/1"));
    }

    [Fact]
    public async Task ARemoteClientMayStillRead()
    {
        Assert.Equal(HttpStatusCode.OK, (await host.Remote.GetAsync("/tasks/1")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Remote.GetAsync("/tasks/list")).StatusCode);
    }
}

/// <summary>A write-token setting is honoured as given, or stops the host at start naming the key.</summary>
public sealed class WriteTokenSettingTests
{
    [Fact]
    public async Task AWriteTokenGivenAsOneValueRatherThanAListIsHonoured()
    {
        // What TaskStream__Auth__WriteTokens=<token> (no __0) sets.
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Auth:WriteTokens", WriteHost.Token));

        using var tokenless = await server.Http.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"No token"}""", token: null));
        using var withToken = await server.Http.SendAsync(WriteHost.Request(HttpMethod.Post, "/tasks", """{"title":"Token"}"""));

        await WriteHost.AssertProblemAsync(tokenless, HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.Created, withToken.StatusCode);
    }

    [Theory]
    [InlineData("TaskStream:Auth:WriteTokens:0")]
    [InlineData("TaskStream:Auth:WriteTokens")]
    public async Task AWriteTokenShorterThan16CharactersStopsTheHostAtStartNamingTheKey(string key)
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => TaskStreamServer.StartAsync((key, "secret-15-chars")));

        Assert.Contains("TaskStream:Auth:WriteTokens", failure.Message);
        Assert.Contains("16", failure.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(" padded")]
    public async Task AnEmptyOrPaddedWriteTokenStopsTheHostAtStart(string token)
    {
        var directory = TaskStreamServer.NewDirectory();
        await using var app = TaskStream.Silo.TaskStreamHost.Build([
            "--urls=http://127.0.0.1:0",
            $"--TaskStream:Database:Path={Path.Combine(directory, "tasks.db")}",
            $"--TaskStream:Cluster:SiloPort={TaskStreamServer.FreeTcpPort()}",
            $"--TaskStream:Cluster:GatewayPort={TaskStreamServer.FreeTcpPort()}",
            "--TaskStream:Auth:WriteTokens:0=a-good-token-0123456789",
            $"--TaskStream:Auth:WriteTokens:1={token}",
        ]);

        var failure = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("TaskStream:Auth:WriteTokens", failure.Message);
        Directory.Delete(directory, recursive: true);
    }
}
