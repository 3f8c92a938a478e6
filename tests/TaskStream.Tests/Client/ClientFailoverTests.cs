using TaskStream.Client;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// The client across a cluster of three real silo processes: the silo relaying its follow stream is killed
/// (SIGKILL), and the client, given two silos' addresses, carries on through the other by itself.
/// </summary>
public sealed class ClientFailoverTests
{
    private const int SeedTasks = 60; // ClusterProcessTests' cluster

    [Fact]
    public async Task AFollowerWhoseSiloIsKilledResumesOnAnotherWithNoEventLostOrDoubled()
    {
        await using var redis = await RedisServer.StartAsync();
        var directory = TaskStreamServer.NewDirectory();
        var silos = new List<SiloProcess>();
        try
        {
            await ClusterProcessTests.StartClusterAsync(silos, directory, redis, "sqlite", postgres: null, ("TaskStream:Streaming:EventIntervalMs", "0"));
            using var http = new HttpClient();
            // Silo 0 first: the stream and the writes go there until it dies.
            var client = new TaskStreamClient(http, new TaskStreamClientOptions { BaseAddresses = [silos[0].Url, silos[1].Url] });
            await using var follower = new FollowRecorder(client);
            await Eventually.TrueAsync(() => follower.HasAsync(f => f.IsLive), TimeSpan.FromSeconds(30), "the follower is live");

            List<TaskItem> written = [];
            for (var i = 0; i < 5; i++)
            {
                written.Add(await client.CreateTaskAsync(new NewTask($"Before the crash {i}")));
            }

            silos[0].Kill();
            for (var i = 0; i < 20; i++)
            {
                written.Add(await client.CreateTaskAsync(new NewTask($"After the crash {i}")));
            }

            await Eventually.TrueAsync(() => follower.HasAsync(f => f.View.Count == SeedTasks + written.Count), TimeSpan.FromSeconds(60),
                $"the follower has every task\n{silos[1].Output}");

            // No task was updated or deleted: each one arrives exactly once, the seed's in the snapshot, the rest as written.
            var received = follower.Events.OfType<TaskReceived>().Select(e => e.Task).ToList();
            Assert.Equal(Enumerable.Range(1, SeedTasks).Select(i => (long)i).Concat(written.Select(t => t.Id)), received.Select(t => t.Id));
            Assert.Equal(written, received.Skip(SeedTasks));
            TaskStreamClientTests.AssertIncreasingIds(follower.Events);
            Assert.True(follower.Events.OfType<StreamLive>().Count() >= 2, "the follower reconnected (a live event per connection)");
            Assert.Equal(await TaskStreamClientTests.ListAllAsync(client, TaskFilter.All), follower.View);
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
}
