using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using TaskStream.Grains;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// An <see cref="InProcessTestCluster"/> whose silo runs the TaskStream grains on a store of 300,000 tasks
/// (the five seed tasks, then generated ones, every third completed): a SQLite file, or a PostgreSQL database.
/// </summary>
public abstract class GrainCluster(string provider) : IAsyncLifetime
{
    public const int TaskCount = 300_000;

    private readonly string _directory = TaskStreamServer.NewDirectory();
    private TestPostgres? _postgres;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        _postgres = provider == "postgres" ? await TestPostgres.CreateAsync() : null;
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["TaskStream:Database:Provider"] = provider,
                ["TaskStream:Database:ConnectionString"] = _postgres?.ConnectionString,
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
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }
}

public sealed class SqliteGrainCluster() : GrainCluster("sqlite");

public sealed class PostgresGrainCluster() : GrainCluster("postgres");

[CollectionDefinition(nameof(SqliteGrainCluster))]
public sealed class SqliteGrainClusterCollection : ICollectionFixture<SqliteGrainCluster>;

[CollectionDefinition(nameof(PostgresGrainCluster))]
public sealed class PostgresGrainClusterCollection : ICollectionFixture<PostgresGrainCluster>;
