namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Two TaskStream hosts (silo + API each) forming one cluster on one SQLite file, streaming without pacing,
/// with heartbeats every second. Their follow streams check the store only once a minute, so a change that
/// reaches them sooner came through the Orleans stream of hints. Writes are not rate limited here.
/// </summary>
public sealed class TwoSilos : IAsyncLifetime
{
    private readonly string _directory = TaskStreamServer.NewDirectory();

    public TaskStreamServer A { get; private set; } = null!;

    public TaskStreamServer B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var (siloPort, gatewayPort) = (FreePortPair(), FreePortPair());
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
        ];
        // Instance 0 holds the development membership table; instance 1 listens on the next ports and joins it.
        A = await TaskStreamServer.StartAsync(_directory, configure: null, [.. common, ("TaskStream:Cluster:Instance", "0")]);
        B = await TaskStreamServer.StartAsync(_directory, configure: null, [.. common, ("TaskStream:Cluster:Instance", "1")]);

        // When B joins, the stream provider's queues are rebalanced between the silos, and hints sent meanwhile
        // can be late or lost. Start the tests once a hint has crossed each way.
        await HintCrossesAsync(from: A, to: B);
        await HintCrossesAsync(from: B, to: A);
    }

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
    }

    // Instance K listens on base + K: find a base whose next port is free too.
    private static int FreePortPair()
    {
        while (true)
        {
            var port = TaskStreamServer.FreeTcpPort();
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

[CollectionDefinition(nameof(TwoSilos))]
public sealed class TwoSilosCollection : ICollectionFixture<TwoSilos>;
