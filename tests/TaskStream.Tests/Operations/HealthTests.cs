using System.Net;
using System.Text.Json;
using Npgsql;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>/health/live and /health/ready over HTTP.</summary>
public sealed class HealthTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task OnceTheSiloHasJoinedAndTheStoreAnswersBothLiveAndReadyAre200()
    {
        await using var server = await TaskStreamServer.StartAsync();

        var (liveStatus, live) = await GetAsync(server.Http, "/health/live");
        var (readyStatus, ready) = await GetAsync(server.Http, "/health/ready");

        Assert.Equal(HttpStatusCode.OK, liveStatus);
        Assert.Equal("Healthy", live.GetProperty("status").GetString());
        Assert.Empty(live.GetProperty("checks").EnumerateObject()); // live checks nothing but the process answering
        Assert.Equal(HttpStatusCode.OK, readyStatus);
        Assert.Equal("Healthy", ready.GetProperty("status").GetString());
        Assert.Equal(["silo", "database"], ready.GetProperty("checks").EnumerateObject().Select(c => c.Name));
        Assert.Equal("Healthy", ready.GetProperty("checks").GetProperty("silo").GetProperty("status").GetString());
        Assert.Contains("is active", ready.GetProperty("checks").GetProperty("silo").GetProperty("description").GetString());
        Assert.Equal("sqlite answers", ready.GetProperty("checks").GetProperty("database").GetProperty("description").GetString());
    }

    [Fact]
    public async Task AFloodOfReadinessProbesAsksTheStoreAboutOnceASecond()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var metrics = server.GetService<TaskStream.Grains.TaskStreamMetrics>();
        await GetAsync(server.Http, "/health/ready");

        var before = metrics.ConnectionsOpened;
        var started = System.Diagnostics.Stopwatch.StartNew();
        var statuses = await Task.WhenAll(Enumerable.Range(0, 400).Select(async _ => (await GetAsync(server.Http, "/health/ready")).Status));
        var seconds = started.Elapsed.TotalSeconds;

        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));
        // One store check answers every probe for a second: 400 probes cost a connection per second they took, not 400.
        Assert.InRange(metrics.ConnectionsOpened - before, 0, (long)Math.Ceiling(seconds) + 1);
    }

    [Fact]
    public async Task ReadyIs503WhileThePostgresStoreIsUnreachableWhileLiveStays200AndReadyReturnsWithTheStore()
    {
        // The silo reaches PostgreSQL through a port the test can cut, as a network failure or a stopped server would.
        await using var postgres = await TestPostgres.CreateAsync();
        var direct = new NpgsqlConnectionStringBuilder(postgres.ConnectionString);
        var target = new IPEndPoint((await Dns.GetHostAddressesAsync(direct.Host!)).First(), direct.Port);
        await using var forwarder = new TcpForwarder(target);
        var throughForwarder = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Host = "127.0.0.1", Port = forwarder.Port };
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Database:Provider", "postgres"), ("TaskStream:Database:ConnectionString", throughForwarder.ToString()));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(server.Http, "/health/ready")).Status);

        await forwarder.CutAsync();

        JsonElement ready = default;
        await Eventually.TrueAsync(async () =>
        {
            (var status, ready) = await GetAsync(server.Http, "/health/ready");
            return status == HttpStatusCode.ServiceUnavailable;
        }, Wait, "ready reports the unreachable store");
        Assert.Equal("Unhealthy", ready.GetProperty("status").GetString());
        Assert.Equal("Unhealthy", ready.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        Assert.StartsWith("postgres does not answer", ready.GetProperty("checks").GetProperty("database").GetProperty("description").GetString());
        Assert.Equal("Healthy", ready.GetProperty("checks").GetProperty("silo").GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(server.Http, "/health/live")).Status);

        forwarder.Start();

        await Eventually.TrueAsync(async () => (await GetAsync(server.Http, "/health/ready")).Status == HttpStatusCode.OK,
            Wait, "ready again once the store answers");
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);
    }
}
