using System.Net;
using System.Text;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// Three real silo processes in one cluster with Redis membership; 30 clients stream through silos 0 and
/// 1 with pacing; then a silo dies (SIGKILL) or stops (SIGTERM): the one hosting the most query grains, or
/// relaying silo 0. Every client must end with every task exactly once.
/// </summary>
public sealed class ClusterProcessTests
{
    private const int TaskCount = 60;

    public enum Victim
    {
        /// <summary>SIGKILL the silo hosting the most query grains.</summary>
        BusiestKilled,

        /// <summary>SIGTERM the silo hosting the most query grains.</summary>
        BusiestStopped,

        /// <summary>SIGKILL silo 0, whose API half the clients stream through: they must switch URL.</summary>
        RelayKilled,
    }

    [Theory]
    [InlineData("sqlite", Victim.BusiestKilled)]
    [InlineData("postgres", Victim.BusiestKilled)]
    [InlineData("sqlite", Victim.BusiestStopped)]
    [InlineData("sqlite", Victim.RelayKilled)]
    public async Task LosingASiloMidStreamLosesAndRepeatsNoTask(string store, Victim victimKind)
    {
        var graceful = victimKind == Victim.BusiestStopped;
        await using var redis = await RedisServer.StartAsync();
        await using var postgres = store == "postgres" ? await TestPostgres.CreateAsync() : null;
        var directory = TaskStreamServer.NewDirectory();
        var silos = new List<SiloProcess>();
        try
        {
            await StartClusterAsync(silos, directory, redis, store, postgres, ("TaskStream:Streaming:EventIntervalMs", "100"));

            using var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 });
            var clients = Enumerable.Range(0, 30)
                .Select(i => new ReconnectingSseClient(http, [silos[0].Url, silos[1].Url], "/tasks/stream", firstSilo: i % 2)).ToList();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            var runs = clients.Select(c => c.RunAsync(deadline.Token)).ToList();
            await Eventually.TrueAsync(() => Task.FromResult(clients.All(c => c.Received.Count >= 5)), TimeSpan.FromSeconds(30),
                "every client is part-way through its stream");

            var victim = victimKind == Victim.RelayKilled ? silos[0] : await BusiestAsync(silos);
            if (graceful)
            {
                victim.Terminate();
                Assert.True(await victim.WaitForExitAsync(TimeSpan.FromSeconds(10)), "a silo stopped with SIGTERM exits within a few seconds");
            }
            else
            {
                victim.Kill();
            }

            await Task.WhenAll(runs);

            Assert.All(clients, c => Assert.Equal(Enumerable.Range(1, TaskCount).Select(i => (long)i), c.Received));
            Assert.Contains(clients, c => c.Reconnects > 0);
            // A dead silo is noticed in seconds (tuned failure detection), not after Orleans' 30 s response timeout.
            // A stopping one hands its streams off in under a second; a client's gap adds its 200 ms retry and
            // the 100 ms pacing (measured here: about 1.0 s in all).
            var allowed = graceful ? TimeSpan.FromSeconds(1) + TimeSpan.FromMilliseconds(200 + 100) : TimeSpan.FromSeconds(12);
            Assert.All(clients, c => Assert.True(c.LongestGap < allowed, $"a client waited {c.LongestGap} for its next task"));
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task FollowersOfAKilledSiloCatchUpWithEveryChangeExactlyOnceInOrder()
    {
        await using var redis = await RedisServer.StartAsync();
        var directory = TaskStreamServer.NewDirectory();
        var silos = new List<SiloProcess>();
        try
        {
            await StartClusterAsync(silos, directory, redis, "sqlite", postgres: null, ("TaskStream:Streaming:EventIntervalMs", "0"));
            using var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 });
            var followers = Enumerable.Range(0, 20)
                .Select(i => new ReconnectingSseClient(http, [silos[0].Url, silos[1].Url], "/tasks/stream?follow=true", firstSilo: i % 2)).ToList();
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            var runs = followers.Select(f => f.RunAsync(stop.Token)).ToList();
            await Eventually.TrueAsync(() => Task.FromResult(followers.All(f => HasLive(f))), TimeSpan.FromSeconds(30),
                "every follower has its snapshot and is live");

            // Kill the silo running the most follow queries, then write through one that survives.
            var victim = await BusiestAsync(silos);
            victim.Kill();
            var writer = silos.First(s => s != victim);
            var written = new List<long>();
            for (var i = 0; i < 20; i++)
            {
                using var response = await http.PostAsync(new Uri(writer.Url, "/tasks"),
                    new StringContent($$"""{"title":"After the crash {{i}}"}""", Encoding.UTF8, "application/json"));
                Assert.True(response.StatusCode == HttpStatusCode.Created, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{writer.Output}");
                written.Add(long.Parse(response.Headers.GetValues("X-TaskStream-Seq").Single()));
            }

            await Eventually.TrueAsync(() => Task.FromResult(followers.All(f => f.Received.Count >= TaskCount + written.Count)),
                TimeSpan.FromSeconds(60), "every follower has every change");
            await stop.CancelAsync();
            await Task.WhenAll(runs.Select(r => r.ContinueWith(_ => { })));

            Assert.All(followers, f => Assert.Equal(Enumerable.Range(1, TaskCount).Select(i => (long)i).Concat(written), f.Received));
            Assert.Contains(followers, f => f.Reconnects > 0);
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }

            Directory.Delete(directory, recursive: true);
        }

        static bool HasLive(ReconnectingSseClient follower)
        {
            lock (follower.Events)
            {
                return follower.Events.Any(e => e.Type == "live");
            }
        }
    }

    internal static async Task StartClusterAsync(List<SiloProcess> silos, string directory, RedisServer redis, string store,
        TestPostgres? postgres, params (string, string)[] extra)
    {
        (string, string)[] settings =
        [
            ("TaskStream:Cluster:Membership", "redis"),
            ("TaskStream:Cluster:Redis", redis.ConnectionString),
            ("TaskStream:Cluster:ClusterId", "test-" + Guid.NewGuid().ToString("N")),
            ("TaskStream:Database:Provider", store),
            ("TaskStream:Database:ConnectionString", postgres?.ConnectionString ?? ""),
            ("TaskStream:Database:SampleTasks", TaskCount.ToString()),
            ("TaskStream:Streaming:RetryMs", "200"),
            .. extra,
        ];
        for (var i = 0; i < 3; i++)
        {
            silos.Add(await SiloProcess.StartAsync(directory, settings));
        }

        await Eventually.TrueAsync(async () => (await Task.WhenAll(silos.Select(s => s.StatusAsync())))
            .All(status => status?.GetProperty("silos").GetArrayLength() == 3), TimeSpan.FromSeconds(30), "all three silos see each other");
    }

    private static async Task<SiloProcess> BusiestAsync(List<SiloProcess> silos)
    {
        var grains = await Task.WhenAll(silos.Select(async s => (await s.StatusAsync())?.GetProperty("query_grains").GetInt64() ?? 0));
        return silos[Array.IndexOf(grains, grains.Max())];
    }
}
