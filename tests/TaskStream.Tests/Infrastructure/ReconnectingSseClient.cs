using System.Diagnostics;
using System.Net;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Behaves as a browser EventSource would across a cluster: reads a stream; when it ends without `end`,
/// reconnects after `retry` with Last-Event-ID; when its silo cannot be reached, tries the next silo's URL
/// (no load balancer needed); stops on `end` or 204 (a follow stream runs until cancelled).
/// </summary>
public sealed class ReconnectingSseClient(HttpClient http, IReadOnlyList<Uri> silos, string pathAndQuery, int firstSilo)
{
    /// <summary>The ids of the <c>task</c> events received, in order.</summary>
    public List<long> Received { get; } = [];

    /// <summary>Every event received, in order.</summary>
    public List<SseEvent> Events { get; } = [];

    public int Reconnects { get; private set; }

    /// <summary>The longest wait between two tasks, reconnects included.</summary>
    public TimeSpan LongestGap { get; private set; }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var silo = firstSilo;
        var retry = TimeSpan.FromSeconds(3);
        var sinceLastTask = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var lastEventId = Events.LastOrDefault(e => e.Id is not null)?.Id;
                using var response = await http.SendAsync(Sse.Get(new Uri(silos[silo], pathAndQuery).ToString(), lastEventId),
                    HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                if (response.StatusCode == HttpStatusCode.NoContent)
                {
                    return;
                }

                response.EnsureSuccessStatusCode();
                await foreach (var e in Sse.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken))
                {
                    retry = e.Retry ?? retry;
                    if (e.Type == "end")
                    {
                        return;
                    }

                    lock (Events)
                    {
                        Events.Add(e);
                    }

                    if (e.Type != "task")
                    {
                        continue;
                    }

                    Received.Add(long.Parse(e.Id!));
                    LongestGap = sinceLastTask.Elapsed > LongestGap ? sinceLastTask.Elapsed : LongestGap;
                    sinceLastTask.Restart();
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or IOException)
            {
                silo = (silo + 1) % silos.Count; // that silo is gone: try another
            }

            Reconnects++;
            await Task.Delay(retry, cancellationToken);
        }
    }
}
