using Orleans.TestingHost;
using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// Three silos of an <see cref="InProcessTestCluster"/> on one SQLite file: query grains spread over all
/// of them, and queries whose silo stops resume on another without losing or repeating a task.
/// </summary>
public sealed class ClusterFailoverTests : IAsyncLifetime
{
    private const int TaskCount = 120;
    private readonly GrainCluster _grains = new("sqlite", silos: 3, taskCount: TaskCount, pageSize: 16);
    private InProcessTestCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        await _grains.InitializeAsync();
        _cluster = _grains.Cluster;
    }

    public Task DisposeAsync() => _grains.DisposeAsync();

    private static TaskStreamMetrics Metrics(InProcessSiloHandle silo) => GrainCluster.Metrics(silo);

    [Fact]
    public async Task QueryGrainsSpreadOverEverySilo()
    {
        var silos = await Task.WhenAll(Enumerable.Range(0, 60).Select(async _ =>
        {
            var results = await _cluster.Client.GetGrain<ITaskQueryGrain>(Guid.NewGuid()).QueryAsync(new TaskQuery(Limit: 1)).ToListAsync();
            return Assert.IsType<QueryCompleted>(results[^1]).Silo;
        }));

        Assert.Equal(3, silos.Distinct().Count());
        Assert.All(_cluster.Silos, silo => Assert.True(Metrics(silo).QueryGrains > 0, $"{silo.SiloAddress} has no query grain"));
    }

    [Fact]
    public async Task QueriesWhoseSiloStopsResumeOnAnotherWithoutLossOrDuplicates()
    {
        var readers = Enumerable.Range(0, 24).Select(_ => new ResumingReader(_cluster.Client)).ToList();
        var reading = readers.Select(r => r.ReadAllAsync()).ToList();
        await Eventually.TrueAsync(() => Task.FromResult(readers.All(r => r.Received.Count >= 5)), TimeSpan.FromSeconds(30),
            "every reader is part-way through its query");

        var busiest = _cluster.Silos.MaxBy(silo => Metrics(silo).RunningQueries)!;
        Assert.True(Metrics(busiest).RunningQueries > 0);
        await _cluster.StopSiloAsync(busiest);
        await Task.WhenAll(reading).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.All(readers, r => Assert.Equal(Enumerable.Range(1, TaskCount).Select(i => (long)i), r.Received));
        Assert.Contains(readers, r => r.Resumes > 0);
    }

    /// <summary>Reads a query slowly, as a paced SSE relay would; when its grain fails, resumes after the last task on a new grain.</summary>
    private sealed class ResumingReader(IGrainFactory grains)
    {
        public List<long> Received { get; } = [];

        public int Resumes { get; private set; }

        public async Task ReadAllAsync()
        {
            while (true)
            {
                try
                {
                    var query = new TaskQuery(ResumeAfter: Received.Count > 0 ? Received[^1] : null);
                    await foreach (var result in grains.GetGrain<ITaskQueryGrain>(Guid.NewGuid()).QueryAsync(query).WithBatchSize(1))
                    {
                        if (result is not TaskItem task)
                        {
                            return;
                        }

                        Received.Add(task.Id);
                        await Task.Delay(25);
                    }
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    Resumes++;
                }
            }
        }
    }
}
