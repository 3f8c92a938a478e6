namespace TaskStream.Tests.Infrastructure;

/// <summary>A running host on one of the two task stores.</summary>
public abstract class StoreHost(string provider, params (string Key, string Value)[] settings) : IAsyncLifetime
{
    private TestPostgres? _postgres;

    public string Provider => provider;

    public TaskStreamServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var all = settings.ToList();
        if (provider == "postgres")
        {
            _postgres = await TestPostgres.CreateAsync();
            all.Add(("TaskStream:Database:Provider", "postgres"));
            all.Add(("TaskStream:Database:ConnectionString", _postgres.ConnectionString));
        }

        Server = await TaskStreamServer.StartAsync([.. all]);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}

/// <summary>Streams as fast as the client reads, for contract tests; two tasks per list page.</summary>
public sealed class FastHost() : StoreHost("sqlite", FastSettings)
{
    internal static readonly (string, string)[] FastSettings =
        [("TaskStream:Streaming:EventIntervalMs", "0"), ("TaskStream:List:MaxTasks", "2")];
}

/// <summary><see cref="FastHost"/> on PostgreSQL.</summary>
public sealed class PostgresFastHost() : StoreHost("postgres", FastHost.FastSettings);

[CollectionDefinition(nameof(FastHost))]
public sealed class FastHostCollection : ICollectionFixture<FastHost>;

[CollectionDefinition(nameof(PostgresFastHost))]
public sealed class PostgresFastHostCollection : ICollectionFixture<PostgresFastHost>;

/// <summary>Paces events slower than its heartbeat, so streams stay open and idle between events.</summary>
public sealed class PacedHost() : StoreHost("sqlite",
    ("TaskStream:Streaming:EventIntervalMs", "3500"), ("TaskStream:Streaming:HeartbeatSeconds", "1"));

[CollectionDefinition(nameof(PacedHost))]
public sealed class PacedHostCollection : ICollectionFixture<PacedHost>;

/// <summary>A host for <see cref="ExternalClientTests"/>.</summary>
public sealed class ExternalClientHost : IAsyncLifetime
{
    public TaskStreamServer Server { get; private set; } = null!;

    // A short retry so the EventSource's reconnect after `end` happens within the test.
    public async Task InitializeAsync() => Server = await TaskStreamServer.StartAsync(
        ("TaskStream:Streaming:EventIntervalMs", "50"),
        ("TaskStream:Streaming:RetryMs", "200"));

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>A host of its own for <see cref="MetricsTests"/>, so the counts are that test's.</summary>
public sealed class MetricsHost : IAsyncLifetime
{
    public TaskStreamServer Server { get; private set; } = null!;

    // Paced, so a stream is still running when the test scrapes; the exporter caches a scrape for 300 ms.
    public async Task InitializeAsync() => Server = await TaskStreamServer.StartAsync(("TaskStream:Streaming:EventIntervalMs", "400"));

    public async Task DisposeAsync() => await Server.DisposeAsync();
}
