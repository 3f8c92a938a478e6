using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TaskStream.Grains;
using TaskStream.Grains.Data;

namespace TaskStream.Tests.Infrastructure;

/// <summary>A task store opened outside any silo, as the data layer's own tests and other programs need it.</summary>
public static class StandaloneStore
{
    private static readonly IMeterFactory Meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();

    /// <summary>Opens the store, creating or upgrading it as a silo would at start.</summary>
    public static async Task<TaskStore> OpenAsync(DatabaseOptions options, TaskStreamMetrics? metrics = null)
    {
        var store = new TaskStore(Options.Create(options), Options.Create(new IdempotencyOptions()), metrics ?? NewMetrics(), NullLogger<TaskStore>.Instance);
        await store.InitializeAsync();
        return store;
    }

    public static TaskStreamMetrics NewMetrics() => new(Meters);
}
