using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>The TaskQuery grain on a real silo and a real store, without HTTP.</summary>
public abstract class TaskQueryGrainTests(GrainCluster cluster)
{
    private ITaskQueryGrain NewGrain() => cluster.Grains.GetGrain<ITaskQueryGrain>(Guid.NewGuid());

    private async Task<List<long>> IdsAsync(TaskQuery query) =>
        await NewGrain().QueryAsync(query).OfType<TaskItem>().Select(t => t.Id).ToListAsync();

    [Fact]
    public async Task TheSeedTasksComeFirstWithTheirTitlesAndCompletedFlags()
    {
        var tasks = await NewGrain().QueryAsync(new TaskQuery(Limit: 6)).OfType<TaskItem>().ToListAsync();

        Assert.Equal<TaskItem>(
        [
            new TaskItem(1, "Implement SSE streaming", "Add server-sent events to API", false),
            new TaskItem(2, "Database integration", "Connect SQLAlchemy with SSE", true),
            new TaskItem(3, "Add filtering", "Support query parameters in streams", false),
            new TaskItem(4, "Write documentation", "Document best practices", true),
            new TaskItem(5, "Performance testing", "Test with large datasets", false),
            new TaskItem(6, "Task 6", "Generated sample task number 6", true),
        ], tasks);
    }

    [Fact]
    public async Task AQueryThatRanToItsEndSaysWhichSiloRanIt()
    {
        var results = await NewGrain().QueryAsync(new TaskQuery(Completed: true, Limit: 2)).ToListAsync();

        Assert.Equal(3, results.Count);
        var completed = Assert.IsType<QueryCompleted>(results[^1]);
        Assert.Equal(cluster.Cluster.Silos[0].SiloAddress.ToString(), completed.Silo);
    }

    [Theory]
    [InlineData(true, new long[] { 2, 4, 6, 9, 12 })]
    [InlineData(false, new long[] { 1, 3, 5, 7, 8 })]
    public async Task CompletedFilterSelectsOnlyMatchingTasks(bool completed, long[] expected) =>
        Assert.Equal(expected, await IdsAsync(new TaskQuery(Completed: completed, Limit: 5)));

    [Fact]
    public async Task AfterStartsStrictlyAfterTheGivenIdAcrossPageBoundaries()
    {
        // The page size is 1,000: this crosses two page boundaries.
        var ids = await IdsAsync(new TaskQuery(After: 998, Limit: 2005));

        Assert.Equal(Enumerable.Range(999, 2005).Select(i => (long)i), ids);
    }

    [Fact]
    public async Task ResumingALimitedQueryDeliversOnlyTheRestOfTheFirstLimitTasks()
    {
        // The stream is the first 10 uncompleted tasks after 3; the client already had up to task 8.
        var whole = await IdsAsync(new TaskQuery(Completed: false, Limit: 10, After: 3));
        var rest = await IdsAsync(new TaskQuery(Completed: false, Limit: 10, After: 3, ResumeAfter: 8));

        Assert.Equal(10, whole.Count);
        Assert.Equal(whole.SkipWhile(id => id <= 8), rest);
    }

    [Fact]
    public async Task ResumingBeforeTheStartOfTheStreamChangesNothing() =>
        Assert.Equal(await IdsAsync(new TaskQuery(After: 10, Limit: 3)), await IdsAsync(new TaskQuery(After: 10, Limit: 3, ResumeAfter: 4)));

    [Fact]
    public async Task CancellingMidQueryStopsTheGrainIterator()
    {
        using var cancellation = new CancellationTokenSource();
        var received = 0;
        var enumerator = NewGrain().QueryAsync(new TaskQuery()).WithBatchSize(1).GetAsyncEnumerator(cancellation.Token);
        while (received < 3 && await enumerator.MoveNextAsync())
        {
            received++;
        }

        // Waiting for its reader, the query holds its page of rows but no connection.
        Assert.Equal((1, 0), (cluster.SiloMetrics.RunningQueries, cluster.SiloMetrics.OpenConnections));
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await enumerator.MoveNextAsync());
        await enumerator.DisposeAsync();

        await Eventually.TrueAsync(() => Task.FromResult(cluster.SiloMetrics.RunningQueries == 0), TimeSpan.FromSeconds(1),
            "the grain's iterator was cancelled and ran its finally");
        Assert.Equal(0, cluster.SiloMetrics.OpenConnections);
    }

    [Fact]
    public async Task AGrainRefusesASecondQueryWhileItsFirstIsRunning()
    {
        var grain = NewGrain();
        await using var first = grain.QueryAsync(new TaskQuery()).WithBatchSize(1).GetAsyncEnumerator();
        Assert.True(await first.MoveNextAsync());

        await Assert.ThrowsAsync<InvalidOperationException>(() => grain.QueryAsync(new TaskQuery(Limit: 1)).ToListAsync().AsTask());
        Assert.True(await first.MoveNextAsync());
    }

    [Theory]
    [InlineData(0, 0L)]
    [InlineData(-1, 0L)]
    [InlineData(5, -1L)]
    public async Task AnInvalidQueryIsRefusedByTheGrain(int limit, long after) =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => IdsAsync(new TaskQuery(Limit: limit, After: after)));
}

[Collection(nameof(SqliteGrainCluster))]
public sealed class SqliteTaskQueryGrainTests(SqliteGrainCluster cluster) : TaskQueryGrainTests(cluster);

[Collection(nameof(PostgresGrainCluster))]
public sealed class PostgresTaskQueryGrainTests(PostgresGrainCluster cluster) : TaskQueryGrainTests(cluster);
