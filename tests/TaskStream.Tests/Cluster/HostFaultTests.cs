using System.Diagnostics;
using TaskStream.Tests.Infrastructure;
using Xunit.Abstractions;

namespace TaskStream.Tests;

/// <summary>
/// Faults of a cluster on separate hosts (<see cref="HostsCluster"/>: three silo processes, each in a network namespace
/// of its own, Redis membership, PostgreSQL, nginx in front), each under the same load (<see cref="HostsWorkload"/>):
/// 100 followers, 100 paced finite streams and a writer, all through nginx. After each fault every finite stream got
/// every task once in order, every follower's view equals /tasks/list, every acknowledged write is in the table, and
/// the change log is one unbroken sequence. Each prints its time to recovery (docs/operations.md keeps the figures).
/// </summary>
[Collection(nameof(HostsCluster))]
[Trait("Category", "Faults")]
public sealed class HostFaultTests(HostsCluster cluster, ITestOutputHelper output) : IAsyncLifetime
{
    public Task InitializeAsync() => cluster.RestoreAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task AKilledSiloIsDeclaredDeadAndItsStreamsResumeElsewhere()
    {
        await using var load = await HostsWorkload.StartAsync(cluster, limit: 250);
        var victim = await BusiestAsync();

        var fault = Stopwatch.GetTimestamp();
        cluster.Silo(victim).Kill();
        var declared = await cluster.WaitForOneViewAsync(Others(victim), TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(5));
        await cluster.StartSiloAsync(victim);
        await cluster.WaitForOneViewAsync(Enumerable.Range(0, HostsCluster.SiloCount), TimeSpan.FromSeconds(60));
        await FinishAsync(load);

        Report(load, "kill -9", load.RecoveryAfter(fault, Stopwatch.GetTimestamp()), $"declared dead after {declared.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task APartitionedSiloIsDeclaredDeadAndRejoinsAfterTheLinkComesBack()
    {
        await using var load = await HostsWorkload.StartAsync(cluster, limit: 500);
        var victim = await BusiestAsync();
        var old = await cluster.MemberNameAsync(victim);

        var fault = Stopwatch.GetTimestamp();
        cluster.Network.Unplug(victim);
        var declared = await cluster.WaitForOneViewAsync(Others(victim), TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(20) - Stopwatch.GetElapsedTime(fault));
        cluster.Network.PlugIn(victim);
        var healed = Stopwatch.GetTimestamp();

        // Declared dead, the silo learns so from the table once it reaches Redis again, and stops itself; a supervisor
        // (here the test) starts it again, with a new generation. Meanwhile the survivors never count it back in.
        var exited = await cluster.Silo(victim).WaitForExitAsync(TimeSpan.FromSeconds(60));
        var selfStop = Stopwatch.GetElapsedTime(healed);
        foreach (var survivor in Others(victim))
        {
            Assert.DoesNotContain(old, await cluster.ActiveMembersSeenByAsync(survivor) ?? []);
        }

        Assert.True(exited, $"the partitioned silo still runs a minute after the link came back\n{cluster.Logs()}");
        await cluster.StartSiloAsync(victim);
        await cluster.WaitForOneViewAsync(Enumerable.Range(0, HostsCluster.SiloCount), TimeSpan.FromSeconds(60));
        Assert.NotEqual(old, await cluster.MemberNameAsync(victim));
        await FinishAsync(load);

        Report(load, "partition (link down 20 s)", load.RecoveryAfter(fault, Stopwatch.GetTimestamp()),
            $"declared dead after {declared.TotalSeconds:0.0} s; stopped itself {selfStop.TotalSeconds:0.0} s after the link came back");
    }

    [Fact]
    public async Task ASiloCutOffFromTheDatabaseLosesNoStreamAndNoWrite()
    {
        await using var load = await HostsWorkload.StartAsync(cluster, limit: 300);
        var victim = await BusiestAsync();

        var fault = Stopwatch.GetTimestamp();
        await cluster.Database(victim).CutAsync();
        await Task.Delay(TimeSpan.FromSeconds(10));
        cluster.Database(victim).Start();
        // Membership lives in Redis, which the silo still reaches: it stays a member throughout.
        await cluster.WaitForOneViewAsync(Enumerable.Range(0, HostsCluster.SiloCount), TimeSpan.FromSeconds(10));
        await FinishAsync(load);

        Report(load, "database cut off from one silo for 10 s", load.RecoveryAfter(fault, Stopwatch.GetTimestamp()), "the silo stayed a member");
    }

    [Fact]
    public async Task ARollingRestartLosesNoStreamAndNoWrite()
    {
        await using var load = await HostsWorkload.StartAsync(cluster, limit: 500);
        var steps = new List<(long Start, long End)>();
        for (var silo = 0; silo < HostsCluster.SiloCount; silo++)
        {
            var start = Stopwatch.GetTimestamp();
            cluster.Silo(silo).Terminate();
            Assert.True(await cluster.Silo(silo).WaitForExitAsync(TimeSpan.FromSeconds(15)), "a silo stopped with SIGTERM exits");
            await cluster.StartSiloAsync(silo);
            await cluster.WaitForOneViewAsync(Enumerable.Range(0, HostsCluster.SiloCount), TimeSpan.FromSeconds(60));
            steps.Add((start, Stopwatch.GetTimestamp()));
        }

        await FinishAsync(load);

        var recoveries = steps.Select(s => load.RecoveryAfter(s.Start, s.End)).ToList();
        Report(load, "rolling restart (each step: SIGTERM, start, rejoin)", recoveries.Max(),
            $"steps took {string.Join(", ", steps.Select(s => $"{Stopwatch.GetElapsedTime(s.Start, s.End).TotalSeconds:0.0} s"))}; "
            + $"recovery per step {string.Join(", ", recoveries.Select(r => $"{r.TotalSeconds:0.0} s"))}");
    }

    private async Task FinishAsync(HostsWorkload load)
    {
        try
        {
            await load.FinishAndCheckAsync();
        }
        catch (Exception exception) when (exception is TimeoutException or Xunit.Sdk.XunitException)
        {
            output.WriteLine(cluster.Logs());
            throw;
        }

        Assert.Contains(load.Followers.Concat(load.Finite), c => c.Reconnects > 0);
    }

    private void Report(HostsWorkload load, string fault, TimeSpan recovery, string more)
    {
        var line = $"{fault}: every client streaming again {recovery.TotalSeconds:0.0} s after the fault; {more}; "
            + $"{load.Followers.Concat(load.Finite).Sum(c => c.Reconnects)} reconnects; {load.Writer.Seqs.Count} writes acknowledged after {load.Writer.Retries} retries";
        output.WriteLine(line);
        Console.WriteLine($"[HostFaultTests] {line}");
    }

    private static IEnumerable<int> Others(int silo) => Enumerable.Range(0, HostsCluster.SiloCount).Where(s => s != silo);

    /// <summary>The silo whose grains run the most queries: the one whose loss breaks the most streams.</summary>
    private async Task<int> BusiestAsync()
    {
        var grains = await Task.WhenAll(Enumerable.Range(0, HostsCluster.SiloCount).Select(async s =>
            (await cluster.Silo(s).StatusAsync())?.GetProperty("query_grains").GetInt64() ?? 0));
        return Array.IndexOf(grains, grains.Max());
    }
}
