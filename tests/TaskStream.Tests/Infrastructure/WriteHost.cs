using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A host of its own that takes writes, listening on loopback and on a <see cref="RemoteNetwork"/>, so that a test
/// can reach it from this machine and from another host (a network namespace of its own).
/// </summary>
public abstract class WriteHost(string provider, params (string Key, string Value)[] settings) : IAsyncLifetime
{
    private TestPostgres? _postgres;

    public const string Token = "alpha-token-0123456789";
    public const string OtherToken = "beta-token-0123456789";

    /// <summary>Two write tokens, and limits no test here reaches.</summary>
    public static readonly (string, string)[] WithTokens =
    [
        ("TaskStream:Auth:WriteTokens:0", Token), ("TaskStream:Auth:WriteTokens:1", OtherToken),
        ("TaskStream:Limits:WritesPerSecond", "100000"), ("TaskStream:Limits:WriteBurst", "100000"),
    ];

    public TaskStreamServer Server { get; private set; } = null!;

    /// <summary>A client on 127.0.0.1.</summary>
    public HttpClient Loopback { get; private set; } = null!;

    /// <summary>A client on another host: the server sees it arrive from <see cref="RemoteNetwork.ClientAddress"/>.</summary>
    public HttpClient Remote { get; private set; } = null!;

    public RemoteNetwork Network { get; private set; } = null!;

    /// <summary>Where <see cref="Network"/>'s clients reach the server.</summary>
    public Uri RemoteBaseAddress => Server.Addresses.Single(a => a.Host == Network.ServerAddress.ToString());

    public async Task InitializeAsync()
    {
        Network = RemoteNetwork.Create();
        List<(string, string)> all = [("urls", $"http://127.0.0.1:0;http://{Network.ServerAddress}:0"), .. settings];
        if (provider == "postgres")
        {
            _postgres = await TestPostgres.CreateAsync();
            all.Add(("TaskStream:Database:Provider", "postgres"));
            all.Add(("TaskStream:Database:ConnectionString", _postgres.ConnectionString));
        }

        try
        {
            Server = await TaskStreamServer.StartAsync([.. all]);
        }
        catch
        {
            Network.Dispose(); // xunit does not dispose a fixture that failed to start
            throw;
        }

        Loopback = new HttpClient { BaseAddress = Server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Remote = Network.Client(RemoteBaseAddress);
    }

    public async Task DisposeAsync()
    {
        Loopback.Dispose();
        Remote.Dispose();
        try
        {
            await Server.DisposeAsync();
        }
        finally
        {
            Network.Dispose();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    /// <summary>A request with a JSON body (or any body and content type), and a bearer token if given.</summary>
    public static HttpRequestMessage Request(HttpMethod method, string path, string? body = null, string? token = Token,
        string contentType = "application/json")
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return request;
    }

    /// <summary>The whole task list, as the JSON text a client gets: what "nothing changed" is checked against.</summary>
    public Task<string> ListAsync() => Loopback.GetStringAsync("/tasks/list");

    /// <summary>Creates a task with the default token and returns its JSON.</summary>
    public async Task<JsonElement> CreateAsync(string title, bool completed = false)
    {
        using var response = await Loopback.SendAsync(Request(HttpMethod.Post, "/tasks",
            JsonSerializer.Serialize(new { title, description = $"about {title}", completed })));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }

    /// <summary>Asserts a problem+json answer with <paramref name="status"/> and returns it.</summary>
    public static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem;
    }

    /// <summary>Asserts a 400 ValidationProblem whose <c>errors</c> name <paramref name="field"/>.</summary>
    public static async Task<JsonElement> AssertInvalidAsync(HttpResponseMessage response, string field)
    {
        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), problem.ToString());
        Assert.Contains(messages.EnumerateArray(), m => !string.IsNullOrEmpty(m.GetString()));
        Assert.Contains(field, problem.GetProperty("detail").GetString());
        return problem;
    }

    /// <summary>The change sequence number a write answered with.</summary>
    public static long Seq(HttpResponseMessage response) =>
        long.Parse(Assert.Single(response.Headers.GetValues("X-TaskStream-Seq")), System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Writes need one of two tokens.</summary>
public sealed class TokenWriteHost() : WriteHost("sqlite", WithTokens);

/// <summary><see cref="TokenWriteHost"/> on PostgreSQL.</summary>
public sealed class PostgresTokenWriteHost() : WriteHost("postgres", WithTokens);

/// <summary>No write tokens configured: writes from loopback clients only.</summary>
public sealed class OpenWriteHost() : WriteHost("sqlite");

/// <summary>Keeps idempotency keys for <see cref="KeyExpiryTests.KeepSeconds"/> only.</summary>
public sealed class ShortKeyHost() : WriteHost("sqlite", [.. WithTokens, ("TaskStream:Idempotency:KeepSeconds", $"{KeyExpiryTests.KeepSeconds}")]);

/// <summary><see cref="ShortKeyHost"/> on PostgreSQL.</summary>
public sealed class PostgresShortKeyHost() : WriteHost("postgres", [.. WithTokens, ("TaskStream:Idempotency:KeepSeconds", $"{KeyExpiryTests.KeepSeconds}")]);

/// <summary>A host allowing 5 writes at once and 1 a second after that, per write token or client address.</summary>
public sealed class RateLimitedWriteHost() : WriteHost("sqlite",
    ("TaskStream:Auth:WriteTokens:0", Token), ("TaskStream:Auth:WriteTokens:1", OtherToken),
    ("TaskStream:Limits:WritesPerSecond", "1"), ("TaskStream:Limits:WriteBurst", "5"));
