using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using TaskStream.Silo;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests.Cluster;

/// <summary>The failure-detection settings reach Orleans' membership options (docs/deployment.md#failure-detection).</summary>
public sealed class FailureDetectionSettingsTests
{
    [Theory]
    [InlineData(null, null, null, 1000, 2, 2)]
    [InlineData("5000", "3", "1", 5000, 3, 1)]
    public async Task TheSettingsBecomeOrleansMembershipOptions(string? probeMs, string? missed, string? votes,
        int expectedProbeMs, int expectedMissed, int expectedVotes)
    {
        var directory = TaskStreamServer.NewDirectory();
        var args = new List<string>
        {
            "--urls=http://127.0.0.1:0",
            $"--TaskStream:Database:Path={Path.Combine(directory, "tasks.db")}",
            $"--TaskStream:Cluster:SiloPort={TaskStreamServer.FreeTcpPort()}",
        };
        foreach (var (key, value) in new[] { ("ProbeTimeoutMs", probeMs), ("MissedProbesLimit", missed), ("DeathVotes", votes) })
        {
            if (value is not null)
            {
                args.Add($"--{ClusterSettings.Section}:{key}={value}");
            }
        }

        await using var app = TaskStreamHost.Build([.. args]);
        var membership = app.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;

        Assert.Equal(
            (TimeSpan.FromMilliseconds(expectedProbeMs), expectedMissed, expectedVotes),
            (membership.ProbeTimeout, membership.NumMissedProbesLimit, membership.NumVotesForDeathDeclaration));
        Directory.Delete(directory, recursive: true);
    }
}
