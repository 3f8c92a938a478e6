using TaskStream.Client;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// A host of its own for the .NET client's tests: 40 tasks, streamed unpaced with <c>retry: 100</c>, lists cut at
/// three tasks, writes needing <see cref="Token"/> and not rate limited.
/// </summary>
public sealed class ClientHost : IAsyncLifetime
{
    public const string Token = "client-tests-token-0123456789";

    public TaskStreamServer Server { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>A client with the write token.</summary>
    public TaskStreamClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await TaskStreamServer.StartAsync(Settings(eventIntervalMs: 0));
        Http = new HttpClient { BaseAddress = Server.BaseAddress };
        Client = new TaskStreamClient(Http, new TaskStreamClientOptions { WriteToken = Token });
    }

    /// <summary>The fixture's settings, with the pause between task events given.</summary>
    public static (string, string)[] Settings(int eventIntervalMs) =>
    [
        ("TaskStream:Database:SampleTasks", "40"),
        ("TaskStream:Streaming:EventIntervalMs", eventIntervalMs.ToString()),
        ("TaskStream:Streaming:RetryMs", "100"),
        ("TaskStream:Streaming:HeartbeatSeconds", "1"),
        ("TaskStream:List:MaxTasks", "3"),
        ("TaskStream:Auth:WriteTokens:0", Token),
        ("TaskStream:Limits:WritesPerSecond", "100000"),
        ("TaskStream:Limits:WriteBurst", "100000"),
    ];

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}

[CollectionDefinition(nameof(ClientHost))]
public sealed class ClientHostCollection : ICollectionFixture<ClientHost>;
