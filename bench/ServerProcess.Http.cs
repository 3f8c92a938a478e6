using System.Diagnostics;
using System.Text.Json;

namespace TaskStream.Bench;

/// <summary>What the bench asks a server over HTTP: /status, /metrics, and waiting until it is ready or drained.</summary>
public sealed partial class ServerProcess
{
    /// <summary>The counter of ended streams, by outcome, that both targets export at /metrics.</summary>
    public const string StreamsEndedMetric = "taskstream_streams_ended_total";

    public async Task<ServerStatus> StatusAsync(HttpClient http, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        await using var body = await http.GetStreamAsync(Url("/status"), timeout.Token);
        using var json = await JsonDocument.ParseAsync(body, cancellationToken: timeout.Token);
        var root = json.RootElement;
        return new ServerStatus(root.GetProperty("status").GetString() ?? "",
            root.GetProperty("active_streams").GetInt64(), root.GetProperty("open_connections").GetInt64())
        {
            Silo = root.TryGetProperty("silo", out var silo) ? silo.GetString() : null,
            Silos = root.TryGetProperty("silos", out var silos) && silos.ValueKind == JsonValueKind.Array
                ? [.. silos.EnumerateArray().Select(s => s.GetString() ?? "")]
                : [],
            QueryGrains = root.TryGetProperty("query_grains", out var grains) ? grains.GetInt64() : null,
        };
    }

    /// <summary>Streams ended since start, by outcome: <c>taskstream_streams_ended_total{outcome}</c> of /metrics.</summary>
    public Task<IReadOnlyDictionary<string, long>> StreamsEndedAsync(HttpClient http, CancellationToken cancellationToken) =>
        MetricAsync(http, StreamsEndedMetric, "outcome", cancellationToken);

    /// <summary>The samples of <paramref name="metric"/> on /metrics, summed by the value of <paramref name="label"/>.</summary>
    public async Task<IReadOnlyDictionary<string, long>> MetricAsync(HttpClient http, string metric, string label, CancellationToken cancellationToken) =>
        PrometheusText.SumBy(await MetricsTextAsync(http, cancellationToken), metric, label);

    /// <summary>The text /metrics answers with.</summary>
    public async Task<string> MetricsTextAsync(HttpClient http, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        return await http.GetStringAsync(Url("/metrics"), timeout.Token);
    }

    /// <summary>Polls /status until no stream and no database connection is open, or the time is up.</summary>
    public async Task<(ServerStatus Status, TimeSpan Waited)> WaitDrainedAsync(HttpClient http, TimeSpan max, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            var status = await StatusAsync(http, cancellationToken);
            var waited = Stopwatch.GetElapsedTime(start);
            if ((status.ActiveStreams == 0 && status.OpenConnections == 0) || waited >= max)
            {
                return (status, waited);
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    private async Task WaitReadyAsync(HttpClient http, TimeSpan max, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(start) < max)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Target} exited with {_process.ExitCode} before it was ready:\n{RecentOutput()}");
            }

            try
            {
                if ((await StatusAsync(http, cancellationToken)).Status == "ready")
                {
                    return;
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // not listening yet
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"{Target} was not ready within {max.TotalSeconds} s:\n{RecentOutput()}");
    }
}
