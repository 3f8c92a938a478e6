using System.Net;
using System.Text.Json;
using Npgsql;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Three silo processes on separate hosts (<see cref="HostNetwork"/>: a namespace and address each, on one LAN),
/// advertising their own addresses, with membership in a redis-server and the store in a fresh PostgreSQL database,
/// both in the root namespace on the LAN; nginx (<see cref="LoadBalancer"/>) in front, on loopback. Each silo reaches
/// the database through a forwarder of its own (<see cref="Database"/>), so one silo can be cut off from it alone.
/// Shared by the fault tests, run one after another: each leaves three active silos (<see cref="RestoreAsync"/>).
/// </summary>
public sealed class HostsCluster : IAsyncLifetime
{
    public const int SiloCount = 3;

    /// <summary>Tasks the store starts with (every third completed): the finite streams read only these.</summary>
    public const int SeedTasks = 3000;

    public const string WriteToken = "fault-tests-write-token";

    private readonly SiloProcess?[] _silos = new SiloProcess?[SiloCount];
    private readonly TcpForwarder?[] _databases = new TcpForwarder?[SiloCount];
    private readonly int _apiPort = TaskStreamServer.FreeTcpPort();
    private readonly int _siloPort = TaskStreamServer.FreeTcpPort();
    private readonly string _clusterId = "hosts-" + Guid.NewGuid().ToString("N");
    private readonly string _directory = TaskStreamServer.NewDirectory();
    private HostNetwork? _network;
    private RedisServer? _redis;
    private TestPostgres? _postgres;
    private LoadBalancer? _balancer;

    public HostNetwork Network => _network!;

    public LoadBalancer Balancer => _balancer!;

    /// <summary>A connection of the test's own to the store.</summary>
    public ExternalWriter Store => ExternalWriter.Postgres(_postgres!.ConnectionString);

    public SiloProcess Silo(int silo) => _silos[silo] ?? throw new InvalidOperationException($"silo {silo} is not running");

    public bool IsRunning(int silo) => _silos[silo] is { HasExited: false };

    /// <summary>Silo <paramref name="silo"/>'s way to the database: cut it to cut that silo off.</summary>
    public TcpForwarder Database(int silo) => _databases[silo]!;

    public async Task InitializeAsync()
    {
        _network = HostNetwork.Create(SiloCount);
        // Also on the LAN; protected mode would serve only loopback clients while no password is set.
        _redis = await RedisServer.StartAsync("--bind", "127.0.0.1", Network.RootAddress.ToString(), "--protected-mode", "no");
        _postgres = await TestPostgres.CreateAsync();
        var server = new NpgsqlConnectionStringBuilder(_postgres.ConnectionString);
        var target = new IPEndPoint(server.Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(server.Host!), server.Port);
        for (var i = 0; i < SiloCount; i++)
        {
            _databases[i] = new TcpForwarder(target, Network.RootAddress);
        }

        // The first silo creates and seeds the schema; the others find it.
        await StartSiloAsync(0);
        await Task.WhenAll(Enumerable.Range(1, SiloCount - 1).Select(StartSiloAsync));
        _balancer = await LoadBalancer.StartAsync([.. Network.Hosts.Select(h => $"{h.Address}:{_apiPort}")]);
        await WaitForOneViewAsync(Enumerable.Range(0, SiloCount), TimeSpan.FromSeconds(30));
    }

    /// <summary>Starts silo <paramref name="silo"/> on its host (again, after a crash or stop: same address and ports).</summary>
    public async Task StartSiloAsync(int silo)
    {
        var host = Network.Hosts[silo];
        var database = new NpgsqlConnectionStringBuilder(_postgres!.ConnectionString)
        {
            Host = Network.RootAddress.ToString(),
            Port = Database(silo).Port,
            // Three silos beside other test runs on one server (max_connections 300).
            MaxPoolSize = 30,
        };
        if (_silos[silo] is { } old)
        {
            await old.DisposeAsync();
        }

        _silos[silo] = await SiloProcess.StartAsync(_directory, new Dictionary<string, string>(), host.Namespace,
            ("urls", $"http://{host.Address}:{_apiPort}"),
            ("TaskStream:Cluster:Membership", "redis"),
            ("TaskStream:Cluster:Redis", $"{Network.RootAddress}:{_redis!.Port}"),
            ("TaskStream:Cluster:ClusterId", _clusterId),
            ("TaskStream:Cluster:AdvertisedAddress", host.Address.ToString()),
            ("TaskStream:Cluster:SiloPort", _siloPort.ToString()),
            ("TaskStream:Database:Provider", "postgres"),
            ("TaskStream:Database:ConnectionString", database.ToString()),
            ("TaskStream:Database:SampleTasks", SeedTasks.ToString()),
            // A page every 2 s of a paced stream (not one page for a whole stream): streams touch the store throughout.
            ("TaskStream:Database:PageSize", "20"),
            ("TaskStream:Streaming:EventIntervalMs", "100"),
            ("TaskStream:Streaming:RetryMs", "200"),
            ("TaskStream:Auth:WriteTokens:0", WriteToken),
            // nginx's address on the LAN: its X-Forwarded-For names the client. All clients here are one
            // (loopback), so the per-client stream cap goes up.
            ("TaskStream:Network:TrustedProxies", Network.RootAddress.ToString()),
            ("TaskStream:Limits:MaxStreamsPerClient", "1000"));
    }

    /// <summary>Each silo's /status <c>silos</c> (the active members it sees), or null for one that does not answer.</summary>
    public async Task<IReadOnlyList<string>?> ActiveMembersSeenByAsync(int silo)
    {
        if (!IsRunning(silo) || await Silo(silo).StatusAsync() is not { } status)
        {
            return null;
        }

        return [.. status.GetProperty("silos").EnumerateArray().Select(s => s.GetString()!)];
    }

    /// <summary>This silo's own address in the membership (address:port:generation).</summary>
    public async Task<string?> MemberNameAsync(int silo) =>
        IsRunning(silo) && await Silo(silo).StatusAsync() is { } status ? status.GetProperty("silo").GetString() : null;

    /// <summary>
    /// Waits until the given silos, and only they, are the active members, and every one of them sees exactly that:
    /// one membership view, no silo left out or counted twice. Returns how long it took.
    /// </summary>
    public async Task<TimeSpan> WaitForOneViewAsync(IEnumerable<int> silos, TimeSpan timeout)
    {
        var members = silos.ToList();
        var last = "";
        try
        {
            return await Eventually.TrueAsync(async () =>
            {
                var names = await Task.WhenAll(members.Select(MemberNameAsync));
                var views = await Task.WhenAll(members.Select(ActiveMembersSeenByAsync));
                last = string.Join("\n", views.Select((v, i) => $"silo {members[i]} ({names[i]}) sees {(v is null ? "nothing" : string.Join(", ", v))}"));
                return names.All(n => n is not null)
                    && views.All(v => v is not null && v.Order().SequenceEqual(names.Order()));
            }, timeout, $"silos {string.Join(", ", members)} are the active members, as each of them sees it");
        }
        catch (TimeoutException exception)
        {
            throw new TimeoutException($"{exception.Message}\n{last}", exception);
        }
    }

    /// <summary>Three active silos, every cable plugged in and every database way open: how each test starts.</summary>
    public async Task RestoreAsync()
    {
        for (var i = 0; i < SiloCount; i++)
        {
            Network.PlugIn(i);
            if (!Database(i).IsOpen)
            {
                Database(i).Start();
            }

            if (!IsRunning(i))
            {
                await StartSiloAsync(i);
            }
        }

        await WaitForOneViewAsync(Enumerable.Range(0, SiloCount), TimeSpan.FromSeconds(60));
    }

    /// <summary>The store's tasks that match <paramref name="completed"/> (id → (JSON as /tasks/list gives it, seq)).</summary>
    public async Task<Dictionary<long, (string Json, long Seq)>> MatchingAsync(HttpClient http, bool? completed) =>
        await TaskTable.MatchingAsync(http, Balancer.Url, Store, completed);

    /// <summary>What each silo and nginx wrote, for a failure message.</summary>
    public string Logs() => string.Join("\n", _silos.Select((s, i) => $"--- silo {i}:\n{s?.Output}")) + $"\n--- nginx:\n{_balancer?.ErrorLog}";

    public async Task DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            if (silo is not null)
            {
                await silo.DisposeAsync();
            }
        }

        if (_balancer is not null)
        {
            await _balancer.DisposeAsync();
        }

        foreach (var database in _databases)
        {
            if (database is not null)
            {
                await database.DisposeAsync();
            }
        }

        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        _network?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>The fault tests share one <see cref="HostsCluster"/> and run alone: they measure recovery times.</summary>
[CollectionDefinition(nameof(HostsCluster), DisableParallelization = true)]
public sealed class HostsClusterCollection : ICollectionFixture<HostsCluster>;
