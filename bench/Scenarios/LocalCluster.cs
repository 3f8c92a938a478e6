using System.Diagnostics;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>A fresh local cluster of silos (localhost membership) on loopback ports of its own, as <c>scale</c> and <c>follow</c> start it.</summary>
internal static class LocalCluster
{
    /// <summary>
    /// Starts silos 0 … n−1 of cluster <paramref name="clusterId"/>, each from <paramref name="template"/>, into
    /// <paramref name="silos"/> (so the caller kills whatever did start), and waits (bounded) until every one
    /// lists all n as active.
    /// </summary>
    public static async Task<(bool Formed, List<ServerStatus?> Seen)> StartAsync(
        BenchContext context, string scenario, string level, ServerConfig template, int n, string clusterId, List<ServerProcess> silos)
    {
        var taken = new HashSet<int>();
        var (api, siloPort, gateway) = (LoopbackPorts.FreeRun(n, taken), LoopbackPorts.FreeRun(n, taken), LoopbackPorts.FreeRun(n, taken));
        ServerConfig Config(int instance) => template with { Member = new ClusterMember(instance, api, siloPort, gateway, clusterId) };

        Progress(scenario, $"{level}: starting cluster {clusterId} (API ports {api}-{api + n - 1})");
        // Instance 0 holds the membership table and creates the database: it answers before the others start.
        silos.Add(await context.StartAsync(Target.TaskStream, Config(0)));
        var others = Enumerable.Range(1, n - 1).Select(k => context.StartAsync(Target.TaskStream, Config(k))).ToList();
        try
        {
            await Task.WhenAll(others);
        }
        finally
        {
            silos.AddRange(others.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result)); // to be killed by the caller
        }

        return await WaitForClusterAsync(context, silos, n);
    }

    /// <summary>Polls every silo's /status (bounded) until each lists all n silos as active.</summary>
    private static async Task<(bool Formed, List<ServerStatus?> Seen)> WaitForClusterAsync(BenchContext context, IReadOnlyList<ServerProcess> silos, int n)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            var seen = new List<ServerStatus?>();
            foreach (var silo in silos)
            {
                silo.EnsureRunning("cluster start");
                try
                {
                    seen.Add(await silo.StatusAsync(context.Load.Http, context.Token));
                }
                catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException
                    && !context.Token.IsCancellationRequested)
                {
                    seen.Add(null);
                }
            }

            if (seen.All(s => s?.Silos.Count == n))
            {
                return (true, seen);
            }

            if (Stopwatch.GetElapsedTime(start) >= ClusterLimit)
            {
                return (false, seen);
            }

            await Task.Delay(100, context.Token);
        }
    }
}
