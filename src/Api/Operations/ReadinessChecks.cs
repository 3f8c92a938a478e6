using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;
using TaskStream.Grains.Data;

namespace TaskStream.Api;

/// <summary>Ready only while this silo is an active member of its cluster and is not stopping.</summary>
internal sealed class SiloActiveCheck(IClusterMembershipService membership, ILocalSiloDetails silo, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"silo {silo.SiloAddress} is stopping"));
        }

        var status = membership.CurrentSnapshot.GetSiloStatus(silo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {silo.SiloAddress} is active")
            : HealthCheckResult.Unhealthy($"silo {silo.SiloAddress} is {status}"));
    }
}

/// <summary>
/// Ready only while the task store answers <c>SELECT 1</c> on a connection of its own. One ping runs at a time and
/// its answer serves every caller for a second, so a flood of <c>/health/ready</c> costs the store one query a second
/// rather than a pooled connection each (which made healthy silos report not ready). A singleton, for that cache.
/// </summary>
internal sealed class DatabaseCheck(TaskStore store) : IHealthCheck
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(5);
    private readonly Lock _gate = new();
    private Task<HealthCheckResult>? _ping;
    private long _pingStarted;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_ping is null || Stopwatch.GetElapsedTime(_pingStarted) >= CacheFor)
            {
                _pingStarted = Stopwatch.GetTimestamp();
                _ping = PingAsync();
            }

            return _ping.WaitAsync(cancellationToken);
        }
    }

    // Its own timeout, not a caller's token: its answer is shared.
    private async Task<HealthCheckResult> PingAsync()
    {
        using var timeout = new CancellationTokenSource(PingTimeout);
        try
        {
            return await store.PingAsync(timeout.Token)
                ? HealthCheckResult.Healthy($"{store.Provider} answers")
                : HealthCheckResult.Unhealthy($"{store.Provider} gave a wrong answer");
        }
        catch (Exception exception)
        {
            // The response names only the error's type (it is served to anyone); the health check log has the rest.
            return HealthCheckResult.Unhealthy($"{store.Provider} does not answer: {exception.GetType().Name}", exception);
        }
    }
}

/// <summary>Health responses as JSON: the overall status and each check's status and description.</summary>
internal static class HealthResponse
{
    public static async Task WriteAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json; charset=utf-8";
        await using var json = new Utf8JsonWriter(http.Response.Body);
        json.WriteStartObject();
        json.WriteString("status", report.Status.ToString());
        json.WriteStartObject("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteStartObject(name);
            json.WriteString("status", entry.Status.ToString());
            json.WriteString("description", entry.Description);
            json.WriteNumber("duration_ms", Math.Round(entry.Duration.TotalMilliseconds, 1));
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }
}
