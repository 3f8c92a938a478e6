using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// Redis membership behind a password and an ACL user: silos with the right credentials form one cluster; the
/// password appears in nothing they write.
/// </summary>
public sealed class RedisCredentialsTests
{
    [Fact]
    public async Task SilosWithTheRightCredentialsJoinThroughARedisThatRequiresThem()
    {
        // The default user needs a password; "silo" is an ACL user of its own.
        await using var redis = await RedisServer.StartAsync("--requirepass", "default-secret", "--user", "silo", "on", ">silo-secret", "~*", "&*", "+@all");
        var directory = TaskStreamServer.NewDirectory();
        (string, string)[] cluster =
        [
            ("TaskStream:Cluster:Membership", "redis"),
            ("TaskStream:Cluster:ClusterId", "test-" + Guid.NewGuid().ToString("N")),
            // Orleans writes its options at start: the password must be masked there too.
            ("Logging:LogLevel:Default", "Information"),
            ("Logging:LogLevel:Orleans", "Information"),
        ];
        var silos = new List<SiloProcess>();
        try
        {
            // One in the connection string, as StackExchange.Redis reads it; one through the settings of their own.
            silos.Add(await SiloProcess.StartAsync(directory, [.. cluster, ("TaskStream:Cluster:Redis", $"{redis.ConnectionString},password=default-secret")]));
            silos.Add(await SiloProcess.StartAsync(directory,
            [
                .. cluster, ("TaskStream:Cluster:Redis", redis.ConnectionString),
                ("TaskStream:Cluster:RedisUser", "silo"), ("TaskStream:Cluster:RedisPassword", "silo-secret"),
            ]));

            await Eventually.TrueAsync(async () => (await Task.WhenAll(silos.Select(s => s.StatusAsync())))
                .All(status => status?.GetProperty("silos").GetArrayLength() == 2), TimeSpan.FromSeconds(30), "both silos see each other");
            Assert.All(silos, silo => Assert.DoesNotContain("silo-secret", silo.Output));
        }
        finally
        {
            foreach (var silo in silos)
            {
                await silo.DisposeAsync();
            }

            Directory.Delete(directory, recursive: true);
        }
    }
}
