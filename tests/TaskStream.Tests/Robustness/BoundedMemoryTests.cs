using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

[Collection(nameof(BoundedMemoryTests))]
public sealed class BoundedMemoryTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task ALargeResultStreamsInBoundedMemory(string store)
    {
        GrainCluster cluster = store == "postgres" ? new PostgresGrainCluster() : new SqliteGrainCluster();
        await cluster.InitializeAsync();
        try
        {
            // If the grain loaded all 300,000 rows at once they would hold tens of MB; paged, the heap stays
            // within a few pages, measured half-way through while the query is still running.
            var before = GC.GetTotalMemory(forceFullCollection: true);
            long count = 0, lastId = 0, midway = 0;
            var grain = cluster.Grains.GetGrain<ITaskQueryGrain>(Guid.NewGuid());
            await foreach (var task in grain.QueryAsync(new TaskQuery()).WithBatchSize(100).OfType<TaskItem>())
            {
                Assert.True(task.Id > lastId);
                lastId = task.Id;
                if (++count == GrainCluster.TaskCount / 2)
                {
                    midway = GC.GetTotalMemory(forceFullCollection: true);
                }
            }

            Assert.Equal(GrainCluster.TaskCount, count);
            Assert.True(midway - before < 16 * 1024 * 1024, $"heap grew by {(midway - before) / 1024} KB mid-query");
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }
}
