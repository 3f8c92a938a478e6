using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;
using TaskStream.Grains.Data;

namespace TaskStream.Grains;

public static class TaskStreamGrainsExtensions
{
    /// <summary>The task store, its options and metrics, query placement, and the start-up step that creates the database.</summary>
    public static IServiceCollection AddTaskStreamGrains(this IServiceCollection services)
    {
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ChangeFeedOptions>().BindConfiguration(ChangeFeedOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddMetrics();
        services.AddSingleton<TaskStreamMetrics>();
        services.AddOptions<IdempotencyOptions>().BindConfiguration(IdempotencyOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<TaskStore>();
        services.AddSingleton<ChangeHints>();
        services.AddSingleton<ChangeFeed>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ChangeFeed>());
        services.AddOptions<QueryPlacementOptions>().BindConfiguration(QueryPlacementOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddPlacementDirector<QueryPlacement, QueryPlacementDirector>();
        services.AddHostedService<DatabaseInitializer>();
        return services;
    }

    /// <summary>
    /// The Orleans stream that carries change hints between silos: in-memory queues and subscriptions, which
    /// is enough for hints (the store is the log, <see cref="ChangeFeed"/>).
    /// </summary>
    public static ISiloBuilder AddTaskStreamChangeHints(this ISiloBuilder silo) =>
        silo.AddMemoryStreams(ChangeHints.StreamProvider).AddMemoryGrainStorage("PubSubStore");

    // Runs before Kestrel starts taking requests (the web server starts after the other hosted services).
    private sealed class DatabaseInitializer(TaskStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
