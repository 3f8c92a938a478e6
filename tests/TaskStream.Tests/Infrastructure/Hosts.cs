namespace TaskStream.Tests.Infrastructure;

/// <summary>A host that streams as fast as the client reads, for contract tests. Two tasks per list page.</summary>
public sealed class FastHost : IAsyncLifetime
{
    public TaskStreamServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await TaskStreamServer.StartAsync(
        ("TaskStream:Streaming:EventIntervalMs", "0"),
        ("TaskStream:List:MaxTasks", "2"));

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(nameof(FastHost))]
public sealed class FastHostCollection : ICollectionFixture<FastHost>;

/// <summary>A host that paces events slower than its heartbeat, so streams stay open and idle between events.</summary>
public sealed class PacedHost : IAsyncLifetime
{
    public TaskStreamServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await TaskStreamServer.StartAsync(
        ("TaskStream:Streaming:EventIntervalMs", "2500"),
        ("TaskStream:Streaming:HeartbeatSeconds", "1"));

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(nameof(PacedHost))]
public sealed class PacedHostCollection : ICollectionFixture<PacedHost>;
