using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using TaskStream.Grains;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// An <see cref="InProcessTestCluster"/> whose silos run the TaskStream grains on one store of tasks (by
/// default 300,000: the five seed tasks, then generated ones, every third completed): a SQLite file, or a
/// PostgreSQL database.
/// </summary>
public class GrainCluster(string provider, short silos = 1, int taskCount = GrainCluster.TaskCount, int pageSize = 1000,
    params (string Key, string Value)[] settings) : IAsyncLifetime
{
    public const int TaskCount = 300_000;

    private readonly string _directory = TaskStreamServer.NewDirectory();
    private TestPostgres? _postgres;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        _postgres = provider == "postgres" ? await TestPostgres.CreateAsync() : null;
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Configuration.AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)));
            host.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["TaskStream:Database:Provider"] = provider,
                ["TaskStream:Database:ConnectionString"] = _postgres?.ConnectionString,
                ["TaskStream:Database:Path"] = Path.Combine(_directory, "tasks.db"),
                ["TaskStream:Database:SampleTasks"] = taskCount.ToString(),
                ["TaskStream:Database:PageSize"] = pageSize.ToString(),
            });
            host.Services.AddTaskStreamGrains();
        });
        builder.ConfigureSilo((_, silo) => silo.AddTaskStreamChangeHints());
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public TaskStreamMetrics SiloMetrics => Metrics(Cluster.Silos[0]);

    public static TaskStreamMetrics Metrics(InProcessSiloHandle silo) => silo.ServiceProvider.GetRequiredService<TaskStreamMetrics>();

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
