using TaskStream.Grains;
using TaskStream.Grains.Data;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// A silo's change window: a change is read from the store once for all the silo's followers, and a follower the
/// window no longer covers reads the store itself until it is back inside it. Counted with the store's own counter
/// of change-log reads, by reader.
/// </summary>
public sealed class ChangeWindowTests
{
    [Fact]
    public async Task FiftyFollowersGetEachWriteFromOneReadOfTheStore()
    {
        var (store, metrics, window) = await OpenAsync(rows: 100);
        await using var _ = store;
        var followers = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => LiveFollowerAsync(store, window)));
        var before = (metrics.LogReadsByFollowers, metrics.LogReadsByFeed);

        var written = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            written.Add(await CreateAsync(store, $"w{i}"));
            await window.RefreshAsync();
            foreach (var follower in followers)
            {
                Assert.True(await follower.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
                Assert.Equal(written[^1], ((TaskChanged)follower.Current).Seq);
            }
        }

        Assert.Equal((before.LogReadsByFollowers, before.LogReadsByFeed + 5), (metrics.LogReadsByFollowers, metrics.LogReadsByFeed));
        foreach (var follower in followers)
        {
            await follower.DisposeAsync();
        }
    }

    [Fact]
    public async Task AFollowerPassedByABurstLargerThanTheWindowCatchesUpFromTheStoreThenFromTheWindow()
    {
        var (store, metrics, window) = await OpenAsync(rows: 3);
        await using var _ = store;
        await using var follower = await LiveFollowerAsync(store, window);
        var burst = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            burst.Add(await CreateAsync(store, $"burst {i}"));
        }

        await window.RefreshAsync();
        Assert.Equal(burst[^1] - 3, window.Start); // the window kept the newest three
        var readsBefore = metrics.LogReadsByFollowers;
        foreach (var seq in burst)
        {
            Assert.True(await follower.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(seq, ((TaskChanged)follower.Current).Seq);
        }

        Assert.Equal(readsBefore + 1, metrics.LogReadsByFollowers); // it read the store itself, once
        readsBefore = metrics.LogReadsByFollowers;

        var next = await CreateAsync(store, "after");
        var moved = follower.MoveNextAsync().AsTask();
        await window.RefreshAsync();
        Assert.True(await moved.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(next, ((TaskChanged)follower.Current).Seq);
        Assert.Equal(readsBefore, metrics.LogReadsByFollowers); // back inside the window: no read of its own
    }

    [Fact]
    public async Task TheWindowKeepsNoMoreTextThanItsByteBound()
    {
        var (store, _, window) = await OpenAsync(rows: 1000, bytes: 10_000);
        await using var __ = store;
        for (var i = 0; i < 20; i++)
        {
            await store.WriteAsync(new Grains.TaskWrite.Create(new NewTask($"wide {i}", new string('d', 1000), false)));
        }

        await window.RefreshAsync();
        // A row of ~1,000 characters counts ~2 KB: four fit in 10,000 bytes, not twenty.
        Assert.Equal(4, window.End - window.Start);
    }

    private static async Task<(TaskStore Store, TaskStreamMetrics Metrics, ChangeWindow Window)> OpenAsync(int rows, long bytes = 1 << 20)
    {
        var metrics = StandaloneStore.NewMetrics();
        var store = await StandaloneStore.OpenAsync(new DatabaseOptions { Path = Path.Combine(TaskStreamServer.NewDirectory(), "tasks.db") }, metrics);
        var window = new ChangeWindow(store, rows, bytes);
        await window.RefreshAsync();
        return (store, metrics, window);
    }

    private static async Task<long> CreateAsync(TaskStore store, string title) =>
        (await store.WriteAsync(new Grains.TaskWrite.Create(new NewTask(title, "", false)))).Seq!.Value;

    // A follower past its snapshot and `live`, waiting on the window.
    private static async Task<IAsyncEnumerator<TaskQueryEvent>> LiveFollowerAsync(TaskStore store, ChangeWindow window)
    {
        var follower = store.FollowAsync(new TaskQuery(Follow: true), "test", window).GetAsyncEnumerator();
        while (await follower.MoveNextAsync() && follower.Current is not FollowingLive)
        {
        }

        return follower;
    }
}
