using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using TaskStream.Grains;
using TaskStream.Grains.Data;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

[Collection(nameof(SqliteFollowCluster))]
public sealed class SqliteFollowGrainTests(SqliteFollowCluster cluster) : FollowGrainTests(cluster);

[Collection(nameof(PostgresFollowCluster))]
public sealed class PostgresFollowGrainTests(PostgresFollowCluster cluster) : FollowGrainTests(cluster);

/// <summary>The store, not the hint, is the log.</summary>
[Collection(nameof(CheckingFollowCluster))]
public sealed class LostHintTests(CheckingFollowCluster cluster)
{
    [Fact]
    public async Task AChangeWhoseHintWasLostStillReachesFollowersFromTheStore()
    {
        await using var follower = new Follower(cluster.Grains.GetGrain<ITaskQueryGrain>(Guid.NewGuid()), new TaskQuery(Follow: true));
        await follower.UntilLiveAsync();

        // Written straight to the store, as by a silo that died before it could send the hint.
        var store = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<TaskStore>();
        var written = await store.WriteAsync(new Grains.TaskWrite.Create(new NewTask("Unannounced", "", false)));

        Assert.Equal(new TaskChanged(written.Seq!.Value, written.Task!), await follower.NextAsync());
    }
}

/// <summary>Follow queries in TaskQuery grains, fed by TaskWriter grains on any silo (no HTTP).</summary>
public abstract class FollowGrainTests(FollowCluster cluster)
{
    private ITaskWriterGrain WriterOn(int silo) =>
        cluster.Cluster.Silos[silo].ServiceProvider.GetRequiredService<IGrainFactory>().GetGrain<ITaskWriterGrain>(0);

    private Follower Follow(TaskQuery query) => new(cluster.Grains.GetGrain<ITaskQueryGrain>(Guid.NewGuid()), query with { Follow = true });

    [Fact]
    public async Task AFollowQueryStreamsTheMatchingTasksInChangeOrderAndThenSaysItIsLive()
    {
        var expected = await cluster.Grains.GetGrain<ITaskQueryGrain>(Guid.NewGuid())
            .QueryAsync(new TaskQuery(Completed: false)).OfType<TaskItem>().ToListAsync();
        await using var follower = Follow(new TaskQuery(Completed: false));

        var snapshot = await follower.UntilLiveAsync();

        var changes = snapshot.OfType<TaskChanged>().ToList();
        Assert.Equal(expected.OrderBy(t => t.Id), changes.Select(c => c.Task).OrderBy(t => t.Id));
        Assert.Equal(changes.Select(c => c.Seq).Order(), changes.Select(c => c.Seq));
        var live = Assert.IsType<FollowingLive>(snapshot[^1]);
        Assert.True(live.Seq >= changes[^1].Seq);
        Assert.Contains(live.Silo, cluster.Cluster.Silos.Select(s => s.SiloAddress.ToString()));
    }

    [Fact]
    public async Task ALimitCapsTheSnapshotOnlyAndLaterChangesStillArrive()
    {
        await using var follower = Follow(new TaskQuery(Limit: 3));
        var snapshot = await follower.UntilLiveAsync();
        Assert.Equal([1L, 2, 3], snapshot.OfType<TaskChanged>().Select(c => c.Task.Id));

        var written = await WriterOn(0).CreateAsync(new NewTask("After the limit", "", false));

        Assert.Equal(new TaskChanged(written.Seq, written.Task), await follower.NextAsync());
    }

    [Fact]
    public async Task FollowersOnEverySiloSeeCreatesUpdatesAndDeletesFromEverySiloInOrder()
    {
        // Random placement: open followers until both silos run at least one.
        var followers = new List<Follower>();
        var silos = new HashSet<string>();
        while (silos.Count < 2 && followers.Count < 40)
        {
            var follower = Follow(new TaskQuery());
            followers.Add(follower);
            silos.Add(Assert.IsType<FollowingLive>((await follower.UntilLiveAsync())[^1]).Silo);
        }

        Assert.Equal(2, silos.Count);
        try
        {
            // Each change reaches every follower before the next is made (a follower that falls behind gets a
            // task's latest state, once: the store keeps one row per task).
            var created = await WriterOn(0).CreateAsync(new NewTask("Followed", "made on silo 0", false));
            await AllSeeAsync(new TaskChanged(created.Seq, created.Task));
            var updated = await WriterOn(1).UpdateAsync(created.Task.Id, new TaskPatch(Completed: true));
            Assert.NotNull(updated);
            await AllSeeAsync(new TaskChanged(updated.Seq, created.Task with { Completed = true }));
            var deleted = await WriterOn(0).DeleteAsync(created.Task.Id);
            Assert.NotNull(deleted);
            await AllSeeAsync(new TaskDeleted(deleted.Value, created.Task.Id));
            Assert.True(created.Seq < updated.Seq && updated.Seq < deleted);

            async Task AllSeeAsync(TaskQueryEvent expected)
            {
                foreach (var follower in followers)
                {
                    Assert.Equal(expected, await follower.NextAsync());
                }
            }
        }
        finally
        {
            foreach (var follower in followers)
            {
                await follower.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ATaskThatStopsMatchingIsDeletedForThatFollowerAndTasksThatNeverMatchedAreNotMentioned()
    {
        await using var follower = Follow(new TaskQuery(Completed: false));
        await follower.UntilLiveAsync();
        var writer = WriterOn(1);

        await writer.CreateAsync(new NewTask("Done from the start", "", true)); // never matched: not mentioned
        var open = await writer.CreateAsync(new NewTask("Open", "", false));
        Assert.Equal(new TaskChanged(open.Seq, open.Task), await follower.NextAsync());
        var done = await writer.UpdateAsync(open.Task.Id, new TaskPatch(Completed: true));
        Assert.Equal(new TaskDeleted(done!.Seq, open.Task.Id), await follower.NextAsync());
        await writer.UpdateAsync(open.Task.Id, new TaskPatch(Title: "Still done")); // still not matching: not mentioned
        var reopened = await writer.UpdateAsync(open.Task.Id, new TaskPatch(Completed: false));

        Assert.Equal(new TaskChanged(reopened!.Seq, new TaskItem(open.Task.Id, "Still done", "", false)), await follower.NextAsync());
    }

    [Fact]
    public async Task AResumingFollowerGetsEveryChangeMadeWhileItWasAwayOnceAndInOrder()
    {
        long lastSeen;
        await using (var follower = Follow(new TaskQuery()))
        {
            lastSeen = Assert.IsType<FollowingLive>((await follower.UntilLiveAsync())[^1]).Seq;
        }

        var writes = new List<TaskWritten>();
        for (var i = 0; i < 20; i++)
        {
            writes.Add(await WriterOn(i % 2).CreateAsync(new NewTask($"While away {i}", "", i % 2 == 0)));
        }

        await using var resumed = Follow(new TaskQuery(ResumeAfter: lastSeen));
        var caughtUp = await resumed.UntilLiveAsync();

        Assert.Equal(writes.Select(w => new TaskChanged(w.Seq, w.Task)), caughtUp.OfType<TaskChanged>());
        Assert.Equal(writes[^1].Seq, Assert.IsType<FollowingLive>(caughtUp[^1]).Seq);
    }

    [Fact]
    public async Task ALastEventIdNewerThanAnyChangeStartsOverWithASnapshot()
    {
        await using var follower = Follow(new TaskQuery(Limit: 2, ResumeAfter: long.MaxValue / 2));

        var events = await follower.UntilLiveAsync();

        Assert.Equal([1L, 2], events.OfType<TaskChanged>().Select(c => c.Task.Id));
    }

    [Fact]
    public async Task AFollowerWaitingForChangesNoLongerHoldsItsSnapshotAndStillGetsTheNextChange()
    {
        // Batched as the relay reads it: the caller's proxy keeps its last batch while its next MoveNext waits.
        using var cancel = new CancellationTokenSource();
        var events = cluster.Grains.GetGrain<ITaskQueryGrain>(Guid.NewGuid()).QueryAsync(new TaskQuery(Follow: true)).GetAsyncEnumerator(cancel.Token);
        try
        {
            var snapshot = await SnapshotUntilLiveAsync(events);
            Assert.True(snapshot.Count >= 2, "the snapshot has several tasks, so it could have shared a batch with `live`");

            var next = events.MoveNextAsync().AsTask(); // waits for a change
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Assert.All(snapshot, task => Assert.False(task.IsAlive, "a snapshot event is still held while the follower waits"));

            var written = await WriterOn(0).CreateAsync(new NewTask("After the wait", "", false));
            Assert.True(await next.WaitAsync(TimeSpan.FromSeconds(10)), "the follow query ended");
            Assert.Equal(new TaskChanged(written.Seq, written.Task), events.Current);
        }
        finally
        {
            await cancel.CancelAsync();
            await events.DisposeAsync();
        }
    }

    // In a method of its own, so that no local of the test still refers to an event when it collects.
    private static async Task<List<WeakReference>> SnapshotUntilLiveAsync(IAsyncEnumerator<TaskQueryEvent> events)
    {
        var snapshot = new List<WeakReference>();
        while (await events.MoveNextAsync())
        {
            if (events.Current is FollowingLive)
            {
                return snapshot;
            }

            snapshot.Add(new WeakReference(events.Current));
        }

        throw new InvalidOperationException("The follow query ended before it was live.");
    }

    [Fact]
    public async Task CancellingAFollowerThatWaitsForChangesEndsItsQuery()
    {
        var metrics = cluster.Cluster.Silos.Select(GrainCluster.Metrics).ToList();
        var follower = Follow(new TaskQuery());
        await follower.UntilLiveAsync();
        Assert.True(metrics.Sum(m => m.RunningQueries) >= 1);

        await follower.DisposeAsync();

        await Eventually.TrueAsync(() => Task.FromResult(metrics.Sum(m => m.RunningQueries) == 0), TimeSpan.FromSeconds(10), "every follow query ended");
        Assert.Equal(0, metrics.Sum(m => m.OpenConnections));
    }
}

/// <summary>One follow query, read one event at a time.</summary>
internal sealed class Follower(ITaskQueryGrain grain, TaskQuery query) : IAsyncDisposable
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);
    private readonly CancellationTokenSource _cancel = new();
    private IAsyncEnumerator<TaskQueryEvent>? _events;

    public async Task<TaskQueryEvent> NextAsync()
    {
        _events ??= grain.QueryAsync(query).WithBatchSize(1).GetAsyncEnumerator(_cancel.Token);
        Assert.True(await _events.MoveNextAsync().AsTask().WaitAsync(Soon), "the follow query ended");
        return _events.Current;
    }

    public async Task<List<TaskQueryEvent>> UntilLiveAsync()
    {
        var events = new List<TaskQueryEvent>();
        do
        {
            events.Add(await NextAsync());
        }
        while (events[^1] is not FollowingLive);
        return events;
    }

    public async ValueTask DisposeAsync()
    {
        await _cancel.CancelAsync();
        if (_events is not null)
        {
            await _events.DisposeAsync();
        }
    }
}

/// <summary>A silo whose change-hint subscription was lost finds out with its probe and subscribes again.</summary>
[Collection(nameof(HintCheckingCluster))]
public sealed class HintRepairTests(HintCheckingCluster cluster)
{
    [Fact]
    public async Task ASiloWhoseHintSubscriptionWasLostSubscribesAgainAndHearsOfChangesMadeElsewhere()
    {
        var silo0 = cluster.Cluster.Silos[0].ServiceProvider;
        var feed = silo0.GetRequiredService<ChangeFeed>();
        var writer = cluster.Cluster.Silos[1].ServiceProvider.GetRequiredService<IGrainFactory>().GetGrain<ITaskWriterGrain>(0);
        await HearsAsync("before the loss");

        // Lose silo 0's subscription as a lost pub-sub record would: remove it behind ChangeHints' back.
        var stream = silo0.GetRequiredService<IClusterClient>().GetStreamProvider(ChangeHints.StreamProvider)
            .GetStream<ChangeHint>(Orleans.Runtime.StreamId.Create("taskstream", "changes"));
        var handles = await stream.GetAllSubscriptionHandles();
        Assert.NotEmpty(handles);
        foreach (var handle in handles)
        {
            await handle.UnsubscribeAsync();
        }

        await HearsAsync("after the loss: the probe failed and the feed subscribed again");

        // Silo 0 learns of silo 1's writes only through hints here: it has no local writes and checks the store
        // for followers every ten minutes.
        // A hint sent while the subscription is lost is gone for good, so write again every half second.
        async Task HearsAsync(string because)
        {
            var seq = 0L;
            var sinceWrite = System.Diagnostics.Stopwatch.StartNew();
            await Eventually.TrueAsync(async () =>
            {
                if (seq == 0 || (feed.Latest < seq && sinceWrite.Elapsed > TimeSpan.FromMilliseconds(500)))
                {
                    seq = (await writer.CreateAsync(new NewTask(because, "", false))).Seq;
                    sinceWrite.Restart();
                }

                return feed.Latest >= seq;
            }, TimeSpan.FromSeconds(30), because);
        }
    }
}
