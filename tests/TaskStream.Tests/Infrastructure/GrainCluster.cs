using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using TaskStream.Grains;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// An <see cref="InProcessTestCluster"/> whose silos run the TaskStream grains on one SQLite file of
/// 300,000 tasks (the five seed tasks, then generated ones, every third completed).
/// </summary>
public sealed class GrainCluster : IAsyncLifetime
{
    public const int TaskCount = 300_000;

    private readonly string _directory = TaskStreamServer.NewDirectory();

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["TaskStream:Database:Path"] = Path.Combine(_directory, "tasks.db"),
                ["TaskStream:Database:SampleTasks"] = TaskCount.ToString(),
                ["TaskStream:Database:PageSize"] = "1000",
            });
            host.Services.AddTaskStreamGrains();
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public TaskStreamMetrics SiloMetrics => Cluster.Silos[0].ServiceProvider.GetRequiredService<TaskStreamMetrics>();

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}

[CollectionDefinition(nameof(GrainCluster))]
public sealed class GrainClusterCollection : ICollectionFixture<GrainCluster>;
