using System.Diagnostics;

namespace TaskStream.Bench;

/// <summary>What several scenarios do alike: warm up, wait for a cluster, hold streams open, print progress.</summary>
internal static class Steps
{
    public static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(60);

    public static readonly TimeSpan ClusterLimit = TimeSpan.FromSeconds(60);

    /// <summary>Opens n streams that hold after their first event; Release() lets them all close.</summary>
    public static async Task<HeldStreams> OpenAndHoldAsync(BenchContext context, ServerProcess server, string path, int n)
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var plan = new StreamPlan { HoldAfterFirst = hold.Task };
        var (stats, allDone) = await Drivers.OpenManyAsync(context.Load, server.Url(path), _ => plan, n,
            context.Options.ConnectConcurrency, context.Token);
        return new HeldStreams(stats, allDone, hold);
    }

    public sealed record HeldStreams(LoadStats Stats, Task AllDone, TaskCompletionSource Hold)
    {
        public void Release() => Hold.TrySetResult();
    }

    /// <summary>Runs rounds of load one after the other until <paramref name="duration"/> is over or one had an error.</summary>
    public static async Task<(LoadStats Stats, TimeSpan Elapsed)> RoundsForAsync(TimeSpan duration, Func<LoadStats, Task> round)
    {
        var stats = new LoadStats();
        var start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(start) < duration && stats.Errors == 0)
        {
            await round(stats);
        }

        return (stats, Stopwatch.GetElapsedTime(start));
    }

    /// <summary>Runs warm-up load (nothing of it is measured) unless the warm-up is zero; notes its errors.</summary>
    public static Task WarmUpAsync(BenchContext context, Section section, ServerProcess server, Func<Task<(LoadStats Stats, TimeSpan Elapsed)>> load) =>
        WarmUpAsync(context, section, server.Target.ToString(), [server], load);

    /// <summary>The same for load spread over several servers (the silos of a cluster), named <paramref name="who"/>.</summary>
    public static async Task WarmUpAsync(BenchContext context, Section section, string who, IReadOnlyList<ServerProcess> servers,
        Func<Task<(LoadStats Stats, TimeSpan Elapsed)>> load)
    {
        if (context.Options.Warmup <= TimeSpan.Zero)
        {
            return;
        }

        Progress(section.Scenario, $"{who}: warming up");
        var (stats, elapsed) = await load();
        foreach (var server in servers)
        {
            server.EnsureRunning("warm-up");
        }

        if (stats.Errors > 0)
        {
            section.Notes.Add($"{who} warm-up ({elapsed.TotalSeconds:0} s): {stats.ErrorSummary()}");
        }
    }

    public static void Progress(string scenario, string text) =>
        Console.WriteLine($"  [{DateTime.Now:HH:mm:ss} {scenario}] {text}");

    /// <summary>Milliseconds between two Stopwatch timestamps; negative when <paramref name="to"/> came first.</summary>
    public static double Between(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
}
