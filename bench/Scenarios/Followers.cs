using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using static TaskStream.Bench.Steps;

namespace TaskStream.Bench;

/// <summary>Follow streams held open by the bench: in its own process (<see cref="Followers"/>) or in child processes (<see cref="FollowClients"/>).</summary>
internal interface IFollowers
{
    /// <summary>Followers that got their <c>live</c> event.</summary>
    int Live { get; }

    /// <summary>Task events received after <c>live</c>, by all followers together.</summary>
    long Received { get; }

    /// <summary>Completes once <see cref="Received"/> is at least <paramref name="atLeast"/>.</summary>
    Task WhenReceivedAsync(long atLeast);

    IReadOnlyDictionary<string, int> Errors { get; }

    /// <summary>The processes other than the bench's own that parse the followers' events (their CPU is the client's too).</summary>
    IReadOnlyList<int> ClientPids { get; }

    /// <summary>Closes every stream and returns what each follower got; calling it again returns at once.</summary>
    Task<FollowRecord> CloseAsync();
}

/// <summary>
/// The open follow streams: each records, after its <c>live</c> event, every <c>task</c> event's id (the change
/// sequence number) and arrival time; anything else after <c>live</c>, or a stream that ends, is an error.
/// </summary>
internal sealed class Followers(CancellationToken token) : IFollowers
{
    /// <summary>
    /// Opens n follow streams, round robin over <paramref name="hosts"/>, at most <paramref name="concurrency"/>
    /// waiting for their <c>live</c> event at once.
    /// </summary>
    public static async Task<Followers> OpenAsync(HttpClient http, IReadOnlyList<Uri> hosts, int n, int concurrency, CancellationToken token)
    {
        var followers = new Followers(token);
        using var gate = new SemaphoreSlim(concurrency);
        var urls = hosts.Select(h => new Uri(h, "/tasks/stream?follow=true")).ToList();
        for (var i = 0; i < n; i++)
        {
            await gate.WaitAsync(token);
            followers.Start(http, urls[i % urls.Count], () => gate.Release());
        }

        // Each follower releases its slot once (live or failed), so all slots back means all are settled.
        for (var i = 0; i < concurrency; i++)
        {
            await gate.WaitAsync(token);
        }

        return followers;
    }

    private readonly CancellationTokenSource _close = CancellationTokenSource.CreateLinkedTokenSource(token);
    private readonly ConcurrentBag<List<(long Seq, long At)>> _events = [];
    private readonly List<Task> _streams = [];
    private Task<FollowRecord>? _closing;
    private readonly ReceivedCount _received = new();
    private int _live;

    public ConcurrentDictionary<string, int> Errors { get; } = new();

    IReadOnlyDictionary<string, int> IFollowers.Errors => Errors;

    public IReadOnlyList<int> ClientPids => [];

    public int Live => Volatile.Read(ref _live);

    /// <summary>Task events received after <c>live</c>, by all followers together.</summary>
    public long Received => _received.Value;

    public Task WhenReceivedAsync(long atLeast) => _received.WhenAtLeastAsync(atLeast);

    public void Start(HttpClient http, Uri url, Action settled)
    {
        var events = new List<(long Seq, long At)>();
        _events.Add(events);
        _streams.Add(Task.Run(() => FollowAsync(http, url, events, settled)));
    }

    private async Task FollowAsync(HttpClient http, Uri url, List<(long Seq, long At)> events, Action settled)
    {
        var isSettled = false;
        void Settle()
        {
            if (!isSettled)
            {
                isSettled = true;
                settled();
            }
        }

        using var toLive = CancellationTokenSource.CreateLinkedTokenSource(_close.Token);
        toLive.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, toLive.Token);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Fail($"HTTP {(int)response.StatusCode}");
                return;
            }

            await using var body = await response.Content.ReadAsStreamAsync(toLive.Token);
            var live = false;
            long snapshot = 0;
            await foreach (var item in SseParser.Create(body).EnumerateAsync(toLive.Token))
            {
                var at = Stopwatch.GetTimestamp();
                if (!live && item.EventType == "task")
                {
                    snapshot++;
                }
                else if (!live && item.EventType == "live")
                {
                    live = true;
                    toLive.CancelAfter(Timeout.InfiniteTimeSpan);
                    using var data = JsonDocument.Parse(item.Data);
                    if (data.RootElement.GetProperty("count").GetInt64() != snapshot)
                    {
                        Fail($"live count {data.RootElement.GetProperty("count")} after {snapshot} snapshot events");
                        return;
                    }

                    Interlocked.Increment(ref _live);
                    Settle();
                }
                else if (live && item.EventType == "task" && long.TryParse(item.EventId, NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
                {
                    events.Add((seq, at));
                    _received.Add(1);
                }
                else
                {
                    Fail($"unexpected event '{item.EventType}' (id {item.EventId}) {(live ? "after" : "before")} live");
                    return;
                }
            }

            Fail(live ? "stream ended while following" : "stream ended before live");
        }
        catch (OperationCanceledException) when (_close.IsCancellationRequested)
        {
            // closed by the bench
        }
        catch (OperationCanceledException)
        {
            Fail("timeout waiting for live");
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException)
        {
            Fail($"{exception.GetType().Name}: {exception.Message}");
        }
        finally
        {
            Settle();
        }
    }

    private void Fail(string error) => Errors.AddOrUpdate(error, 1, (_, k) => k + 1);

    /// <summary>Closes every stream (the client disconnects), waits (≤ 30 s) for them to finish, and returns what they got.</summary>
    public Task<FollowRecord> CloseAsync() => _closing ??= CloseCoreAsync();

    private async Task<FollowRecord> CloseCoreAsync()
    {
        await _close.CancelAsync();
        await Task.WhenAll(_streams).WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
        return new FollowRecord([.. _events], Errors);
    }
}

/// <summary>What every follower got after <c>live</c> (change number, arrival as a Stopwatch timestamp), and the errors.</summary>
internal sealed class FollowRecord(IReadOnlyList<IReadOnlyList<(long Seq, long At)>> events, IReadOnlyDictionary<string, int> errors)
{
    public IReadOnlyList<IReadOnlyList<(long Seq, long At)>> Events => events;

    public IReadOnlyDictionary<string, int> Errors => errors;

    /// <summary>Delivery latency (ms) of every write at every follower that got it.</summary>
    public List<double> Latencies(IReadOnlyList<Write> writes)
    {
        var respondedAt = writes.ToDictionary(w => w.Seq, w => w.RespondedAt);
        return [.. events.SelectMany(e => e).Where(e => respondedAt.ContainsKey(e.Seq)).Select(e => Between(respondedAt[e.Seq], e.At))];
    }

    /// <summary>When the last follower got the change <paramref name="seq"/>; null when none did.</summary>
    public long? LastArrival(long seq) =>
        events.SelectMany(e => e).Where(e => e.Seq == seq).Select(e => (long?)e.At).Max();

    /// <summary>Followers that did not get exactly these writes, once each, in order.</summary>
    public IEnumerable<string> OrderProblems(IReadOnlyList<Write> writes)
    {
        var expected = writes.Select(w => w.Seq).ToList();
        var wrong = events.Where(e => !e.Select(x => x.Seq).SequenceEqual(expected)).ToList();
        if (wrong.Count > 0)
        {
            yield return $"{wrong.Count} of {events.Count} followers did not get the {expected.Count} writes exactly once in order; " +
                $"e.g. got [{string.Join(",", wrong[0].Select(x => x.Seq).Take(20))}], expected [{string.Join(",", expected.Take(20))}]";
        }

        if (errors.Count > 0)
        {
            yield return $"follower errors: {LoadStats.Summarize(errors)}";
        }
    }
}
