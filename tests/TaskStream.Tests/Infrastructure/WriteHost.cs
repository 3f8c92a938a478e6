using System.Net;
using System.Net.Http.Headers;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A host of its own that takes writes, listening on every interface so that a test can reach it from this
/// machine's loopback address and from its non-loopback one (a "remote" client, as far as the server can tell).
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

    /// <summary>A client on this machine's non-loopback address, which the server sees as a remote client.</summary>
    public HttpClient Remote { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        List<(string, string)> all = [("urls", "http://0.0.0.0:0"), .. settings];
        if (provider == "postgres")
        {
            _postgres = await TestPostgres.CreateAsync();
            all.Add(("TaskStream:Database:Provider", "postgres"));
            all.Add(("TaskStream:Database:ConnectionString", _postgres.ConnectionString));
        }

        Server = await TaskStreamServer.StartAsync([.. all]);
        Loopback = ClientOn(IPAddress.Loopback);
        Remote = ClientOn(NonLoopbackAddress());
    }

    public async Task DisposeAsync()
    {
        Loopback.Dispose();
        Remote.Dispose();
        await Server.DisposeAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    public HttpClient ClientOn(IPAddress address) =>
        new() { BaseAddress = new Uri($"http://{address}:{Server.BaseAddress.Port}"), Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>This machine's first non-loopback IPv4 address, found at run time.</summary>
    public static IPAddress NonLoopbackAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
        ?? throw new InvalidOperationException("These tests need a non-loopback IPv4 address on this machine, to connect as a remote client.");

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
