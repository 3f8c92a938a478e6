using System.Net;
using System.Net.Sockets;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// A new user's mistakes in settings and surroundings, each tried on the real silo process: it must refuse to start
/// with one line on stderr naming what is wrong and the value given, not with a crash and a stack trace.
/// </summary>
public sealed class StartupMistakeTests
{
    [Theory]
    [InlineData("TaskStream:Streaming:RetryMs", "-5", "between 0 and 3600000")]
    [InlineData("TaskStream:Streaming:RetryMs", "abc", "System.Int32")]
    [InlineData("TaskStream:Cluster:ApiPort", "70000", "between 1 and 65535")]
    [InlineData("TaskStream:Database:Provider", "mysql", "'sqlite' or 'postgres'")]
    [InlineData("TaskStream:Grains:Placement", "nearest", "'local' or 'random'")]
    [InlineData("TaskStream:Cluster:ProbeTimeoutMs", "50", "between 100 and 60000")]
    [InlineData("TaskStream:Cluster:Membership", "etcd", "'localhost' or 'redis'")]
    public async Task ASettingOutOfRangeOrUnparsableIsNamedWithItsValueInOneLine(string key, string value, string allowed)
    {
        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), (key, value));

        AssertOneLine(failed, key, $"'{value}'", allowed);
    }

    [Fact]
    public async Task PostgresWithoutAConnectionStringNamesTheMissingKey()
    {
        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), ("TaskStream:Database:Provider", "postgres"));

        AssertOneLine(failed, "TaskStream:Database:ConnectionString", "(not set)", "required when TaskStream:Database:Provider is 'postgres'");
    }

    [Fact]
    public async Task AMistypedDatabaseFolderIsAnErrorAndIsNotCreated()
    {
        var folder = Path.Combine(TaskStreamServer.NewDirectory(), "dta");
        var path = Path.Combine(folder, "tasks.db");

        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), ("TaskStream:Database:Path", path));

        AssertOneLine(failed, "TaskStream:Database:Path", $"'{path}'", "does not exist");
        Assert.False(Directory.Exists(folder));
    }

    [Fact]
    public async Task AnUnwritableDatabaseFolderIsNamedWithThePath()
    {
        // /proc refuses new files even to root, so this holds however the tests run.
        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), ("TaskStream:Database:Path", "/proc/tasks.db"));

        AssertOneLine(failed, "TaskStream:Database:Path", "'/proc/tasks.db'", "must exist and be writable");
    }

    [Fact]
    public async Task AMissingCertificateFileIsNamedWithItsKeyAndWhereItWasLookedFor()
    {
        // Relative, as a user types it: looked for in the working directory (Kestrel alone would look beside the binary).
        var directory = TaskStreamServer.NewDirectory();
        var failed = await SiloProcess.RunUntilExitAsync(directory,
            ("Kestrel:Endpoints:Https:Url", $"https://127.0.0.1:{TaskStreamServer.FreeTcpPort()}"),
            ("Kestrel:Endpoints:Https:Certificate:Path", "cert.pem"), ("Kestrel:Endpoints:Https:Certificate:KeyPath", "key.pem"));

        AssertOneLine(failed, "Kestrel:Endpoints:Https:Certificate:Path = 'cert.pem'", $"({Path.Combine(directory, "cert.pem")})", "no such file");
    }

    [Fact]
    public async Task APortAlreadyTakenIsNamed()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var url = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";

        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), ("urls", url));

        AssertOneLine(failed, url, "address already in use", "--urls");
    }

    [Fact]
    public async Task TheDefaultApiPortTakenIsNamedBeforeTheSiloStarts()
    {
        // As when something else already serves on 8000: the default address, localhost on TaskStream:Cluster:ApiPort.
        using var taken = new TcpListener(IPAddress.Any, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port.ToString();

        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), ("TaskStream:Cluster:ApiPort", port));

        AssertOneLine(failed, $"TaskStream:Cluster:ApiPort = {port}", "address already in use");
    }

    [Fact]
    public async Task ASiloPortTakenByAnotherSiloIsNamed()
    {
        var siloPort = TaskStreamServer.FreeTcpPort().ToString();
        await using var first = await SiloProcess.StartAsync(TaskStreamServer.NewDirectory(), ("TaskStream:Cluster:SiloPort", siloPort));

        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), ("TaskStream:Cluster:SiloPort", siloPort));

        AssertOneLine(failed, $"TaskStream:Cluster:SiloPort = {siloPort}", "already in use");
        Assert.False(first.HasExited);
    }

    [Fact]
    public async Task AGatewayPortTakenByAnotherSiloIsNamed()
    {
        var gatewayPort = TaskStreamServer.FreeTcpPort().ToString();
        (string, string)[] gateway = [("TaskStream:Cluster:Gateway", "true"), ("TaskStream:Cluster:GatewayPort", gatewayPort)];
        await using var first = await SiloProcess.StartAsync(TaskStreamServer.NewDirectory(), gateway);

        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), gateway);

        AssertOneLine(failed, $"TaskStream:Cluster:GatewayPort = {gatewayPort}", "already in use");
    }

    [Theory]
    [InlineData("not set", "TaskStream:Cluster:Tls:KeyPath (not set)", "required when TaskStream:Cluster:Tls:Enabled is true")]
    [InlineData("missing file", "TaskStream:Cluster:Tls:CertificatePath = '", "no such file")]
    [InlineData("a key of another certificate", "TaskStream:Cluster:Tls:KeyPath = '", "not the PEM private key of the certificate")]
    [InlineData("not a certificate", "TaskStream:Cluster:Tls:AuthorityPath = '", "not a PEM certificate")]
    [InlineData("another authority", "TaskStream:Cluster:Tls:CertificatePath = '", "was not issued by the authority")]
    [InlineData("server use only", "TaskStream:Cluster:Tls:CertificatePath = '", "must include serverAuth and clientAuth")]
    public async Task ATlsSettingTheSiloCannotUseIsNamedInOneLine(string mistake, string key, string problem)
    {
        using var authority = TestAuthority.Create("cluster");
        using var other = TestAuthority.Create("other");
        var silo = authority.Issue("silo");
        var settings = silo.Settings(authority).ToDictionary(s => s.Key, s => s.Value);
        switch (mistake)
        {
            case "not set":
                settings.Remove("TaskStream:Cluster:Tls:KeyPath");
                break;
            case "missing file":
                settings["TaskStream:Cluster:Tls:CertificatePath"] = Path.Combine(authority.Directory, "no-such.pem");
                break;
            case "a key of another certificate":
                settings["TaskStream:Cluster:Tls:KeyPath"] = authority.Issue("another").KeyPath;
                break;
            case "not a certificate":
                settings["TaskStream:Cluster:Tls:AuthorityPath"] = silo.KeyPath;
                break;
            case "another authority":
                settings["TaskStream:Cluster:Tls:CertificatePath"] = other.Issue("elsewhere").CertificatePath;
                settings["TaskStream:Cluster:Tls:KeyPath"] = Path.Combine(other.Directory, "elsewhere-key.pem");
                break;
            case "server use only":
                var server = authority.Issue("server-only", TestAuthority.ServerAuthentication);
                (settings["TaskStream:Cluster:Tls:CertificatePath"], settings["TaskStream:Cluster:Tls:KeyPath"]) = (server.CertificatePath, server.KeyPath);
                break;
        }

        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), [.. settings.Select(s => (s.Key, s.Value))]);

        AssertOneLine(failed, key, problem);
    }

    [Fact]
    public async Task AWrongRedisPasswordIsNamedButNotPrinted()
    {
        await using var redis = await RedisServer.StartAsync("--requirepass", "right-secret");

        var failed = await SiloProcess.RunUntilExitAsync(TaskStreamServer.NewDirectory(), ("TaskStream:Cluster:Membership", "redis"),
            ("TaskStream:Cluster:Redis", redis.ConnectionString), ("TaskStream:Cluster:RedisPassword", "wrong-secret"));

        AssertOneLine(failed, $"TaskStream:Cluster:Redis = '{redis.ConnectionString},password=*****'", "refused the credentials",
            "TaskStream:Cluster:RedisPassword");
        Assert.DoesNotContain("wrong-secret", failed.StandardOutput + failed.StandardError);
    }

    private static void AssertOneLine(SiloProcess.FailedStart failed, params string[] mentions)
    {
        var lines = failed.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = Assert.Single(lines);
        Assert.All(mentions, mention => Assert.Contains(mention, line));
        // 134 is the runtime's abort on an unhandled exception.
        Assert.NotEqual(0, failed.ExitCode);
        Assert.NotEqual(134, failed.ExitCode);
        Assert.DoesNotContain("Unhandled exception", failed.StandardOutput + failed.StandardError);
        Assert.DoesNotContain("Hosting failed to start", failed.StandardOutput);
        // Nor a stack trace among the logs (a silo stopped in a hurry logs its own).
        Assert.DoesNotContain("   at ", failed.StandardOutput);
    }
}
