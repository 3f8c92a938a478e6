using System.Net.Http.Json;
using System.Text.Json;
using Dapper;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Two TaskStream hosts (silo + API each) forming one cluster on one store, streaming without pacing,
/// with heartbeats every second. Their follow streams check the store only once a minute, so a change that
/// reaches them sooner came through the Orleans stream of hints or the store's own notice of a commit.
/// Writes are not rate limited here. <paramref name="settings"/> are added to (and override) those.
/// </summary>
public abstract class SiloPair(string provider, params (string Key, string Value)[] settings) : IAsyncLifetime
{
    private readonly string _directory = TaskStreamServer.NewDirectory();
    private TestPostgres? _postgres;

    public string Provider => provider;

    public TaskStreamServer A { get; private set; } = null!;

    public TaskStreamServer B { get; private set; } = null!;

    /// <summary>Another program writing to the same store (sqlite3, psql).</summary>
    public ExternalWriter External { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var siloPort = FreePortPair();
        var gatewayPort = FreePortPair(besides: siloPort);
        var store = new List<(string, string)>();
        if (provider == "postgres")
        {
            _postgres = await TestPostgres.CreateAsync();
            store.Add(("TaskStream:Database:Provider", "postgres"));
            // Each silo's pool may grow to Npgsql's 100 by default, the server's whole limit, which test collections
            // running at once share: a pair takes at most 40.
            store.Add(("TaskStream:Database:ConnectionString",
                new Npgsql.NpgsqlConnectionStringBuilder(_postgres.ConnectionString) { MaxPoolSize = 20 }.ToString()));
        }

        (string, string)[] common =
        [
            ("TaskStream:Cluster:SiloPort", siloPort.ToString()),
            ("TaskStream:Cluster:GatewayPort", gatewayPort.ToString()),
            ("TaskStream:Streaming:EventIntervalMs", "0"),
            ("TaskStream:Streaming:HeartbeatSeconds", "1"),
            ("TaskStream:Streaming:FollowCheckMs", "60000"),
            // The tests write hundreds of tasks at once; the write rate limit has tests of its own.
            ("TaskStream:Limits:WritesPerSecond", "1000000"),
            ("TaskStream:Limits:WriteBurst", "1000000"),
            .. store,
            .. settings,
        ];
        // Instance 0 holds the development membership table; instance 1 listens on the next ports and joins it.
        A = await TaskStreamServer.StartAsync(_directory, configure: null, [.. common, ("TaskStream:Cluster:Instance", "0")]);
        B = await TaskStreamServer.StartAsync(_directory, configure: null, [.. common, ("TaskStream:Cluster:Instance", "1")]);
        External = _postgres is null ? ExternalWriter.Sqlite(A.DatabasePath) : ExternalWriter.Postgres(_postgres.ConnectionString);

        // When B joins, the stream provider's queues are rebalanced between the silos, and hints sent meanwhile
        // can be late or lost. Start the tests once a hint has crossed each way.
        await HintCrossesAsync(from: A, to: B);
        await HintCrossesAsync(from: B, to: A);
    }

    /// <summary>
    /// What <c>/tasks/list</c> (through A, every page) shows for <paramref name="completed"/>: id → the task's
    /// JSON, with the sequence number of its latest change read from the store itself.
    /// </summary>
    public Task<Dictionary<long, (string Json, long Seq)>> MatchingAsync(bool? completed) =>
        TaskTable.MatchingAsync(A.Http, A.BaseAddress, External, completed);

    private static async Task HintCrossesAsync(TaskStreamServer from, TaskStreamServer to)
    {
        var feed = to.GetService<TaskStream.Grains.ChangeFeed>();
        var seq = 0L;
        await Eventually.TrueAsync(async () =>
        {
            if (seq == 0 || feed.Latest < seq)
            {
                using var response = await from.Http.PostAsync("/tasks", new StringContent("""{"title":"Warm-up"}""", System.Text.Encoding.UTF8, "application/json"));
                response.EnsureSuccessStatusCode();
                seq = long.Parse(response.Headers.GetValues("X-TaskStream-Seq").Single());
                await Task.Delay(200);
            }

            return feed.Latest >= seq;
        }, TimeSpan.FromSeconds(60), "a change hint crossed from one silo to the other");
    }

    public async Task DisposeAsync()
    {
        if (B is not null)
        {
            await B.DisposeAsync(keepDatabase: true);
        }

        if (A is not null)
        {
            await A.DisposeAsync();
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    // Instance K listens on base + K: find a base whose next port is free too, and whose pair does not overlap the
    // pair found before (the system can hand out that pair's second port next).
    private static int FreePortPair(int? besides = null)
    {
        while (true)
        {
            var port = TaskStreamServer.FreeTcpPort();
            if (besides is { } taken && Math.Abs(port - taken) <= 1)
            {
                continue;
            }

            try
            {
                using var next = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port + 1);
                next.Start();
                return port;
            }
            catch (System.Net.Sockets.SocketException)
            {
            }
        }
    }
}

/// <summary>Two silos on one SQLite file.</summary>
public sealed class TwoSilos() : SiloPair("sqlite");

/// <summary>Two silos on one PostgreSQL database.</summary>
public sealed class PostgresTwoSilos() : SiloPair("postgres");

[CollectionDefinition(nameof(TwoSilos))]
public sealed class TwoSilosCollection : ICollectionFixture<TwoSilos>;

[CollectionDefinition(nameof(PostgresTwoSilos))]
public sealed class PostgresTwoSilosCollection : ICollectionFixture<PostgresTwoSilos>;
