using System.Diagnostics;
using System.Net;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Behaves as a browser EventSource would across a cluster: reads a stream; when it ends without `end`,
/// reconnects after `retry` with Last-Event-ID; when its silo cannot be reached, tries the next silo's URL
/// (no load balancer needed); stops on `end` or 204 (a follow stream runs until cancelled). A follower may
/// keep a <see cref="FeedView"/>, which then checks every connection's events as they arrive.
/// </summary>
public sealed class ReconnectingSseClient(HttpClient http, IReadOnlyList<Uri> silos, string pathAndQuery, int firstSilo, FeedView? view = null)
{
    /// <summary>The ids of the <c>task</c> events received, in order.</summary>
    public List<long> Received { get; } = [];

    /// <summary>Every event received, in order (lock it while the client runs; <see cref="View"/> too).</summary>
    public List<SseEvent> Events { get; } = [];

    public FeedView? View => view;

    /// <summary>Each connection attempt, in order: when it began, its first event, and when it broke (ended without <c>end</c>).</summary>
    public List<Connection> Connections { get; } = [];

    public string PathAndQuery => pathAndQuery;

    public int Reconnects { get; private set; }

    /// <summary>Why the last connection failed, if one did.</summary>
    public string? LastFailure { get; private set; }

    /// <summary>The longest wait between two tasks, reconnects included.</summary>
    public TimeSpan LongestGap { get; private set; }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var silo = firstSilo;
        var retry = TimeSpan.FromSeconds(3);
        var sinceLastTask = Stopwatch.StartNew();
        while (true)
        {
            var connection = new Connection(Stopwatch.GetTimestamp());
            try
            {
                string? lastEventId;
                lock (Events)
                {
                    Connections.Add(connection);
                    lastEventId = Events.LastOrDefault(e => e.Id is not null)?.Id;
                    view?.Connecting(lastEventId);
                }

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
                        connection.FirstEvent ??= Stopwatch.GetTimestamp();
                        Events.Add(e);
                        view?.Apply(e);
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
                LastFailure = exception.Message;
                silo = (silo + 1) % silos.Count; // that silo is gone: try another
            }

            lock (Events)
            {
                connection.Broken = Stopwatch.GetTimestamp();
            }

            Reconnects++;
            await Task.Delay(retry, cancellationToken);
        }
    }

    /// <summary>One connection attempt (Stopwatch timestamps).</summary>
    public sealed class Connection(long started)
    {
        public long Started { get; } = started;

        public long? FirstEvent { get; set; }

        public long? Broken { get; set; }
    }
}
