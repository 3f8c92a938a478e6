using System.Diagnostics;
using Dapper;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// What runs through the balancer of a <see cref="HostsCluster"/> while a fault happens: 100 follow streams of six
/// filters and limits (each keeping a <see cref="FeedView"/>), 100 paced finite streams of the seed tasks (three filters, a
/// <c>limit</c> that makes them outlast the fault) and an <see cref="AcknowledgedWriter"/>. All are resuming clients
/// (<see cref="ReconnectingSseClient"/>) of the one address; none is told which silo is down.
/// </summary>
public sealed class HostsWorkload : IAsyncDisposable
{
    // Snapshots are paced like every stream (EventIntervalMs), so followers take a short one: each then holds those
    // tasks and every matching task changed since (what FeedView.Expected checks with limit).
    private static readonly string[] FollowFilters =
        ["&limit=10", "&completed=true&limit=10", "&completed=false&limit=10", "&limit=30", "&completed=true&limit=30", "&completed=false&limit=30"];
    private static readonly string[] FiniteFilters = ["", "completed=true&", "completed=false&"];

    private readonly HostsCluster _cluster;
    private readonly int _limit;
    private readonly HttpClient _http = new(new SocketsHttpHandler { MaxResponseDrainSize = 0 });
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _stopWriting = new();
    private readonly List<Task> _following = [];
    private readonly List<Task> _streaming = [];
    private Task _writing = Task.CompletedTask;
    private long _newestBefore; // the newest task id before the writer began: its tasks come after

    private HostsWorkload(HostsCluster cluster, int limit)
    {
        (_cluster, _limit) = (cluster, limit);
        Followers = [.. Enumerable.Range(0, 100).Select(i =>
            new ReconnectingSseClient(_http, [cluster.Balancer.Url], "/tasks/stream?follow=true" + FollowFilters[i % FollowFilters.Length], 0, new FeedView()))];
        Finite = [.. Enumerable.Range(0, 100).Select(i =>
            new ReconnectingSseClient(_http, [cluster.Balancer.Url], $"/tasks/stream?{FiniteFilters[i % FiniteFilters.Length]}limit={limit}", 0))];
        Writer = new AcknowledgedWriter(_http, cluster.Balancer.Url, HostsCluster.WriteToken);
    }

    public List<ReconnectingSseClient> Followers { get; }

    public List<ReconnectingSseClient> Finite { get; }

    public AcknowledgedWriter Writer { get; }

    /// <summary>Starts every client and the writer; returns once every follower is live and every finite stream under way.</summary>
    /// <param name="limit">Tasks per finite stream: 10 a second (EventIntervalMs 100), so <c>limit</c>/10 s without a fault.</param>
    public static async Task<HostsWorkload> StartAsync(HostsCluster cluster, int limit)
    {
        var load = new HostsWorkload(cluster, limit);
        load._following.AddRange(load.Followers.Select(f => f.RunAsync(load._stop.Token)));
        load._streaming.AddRange(load.Finite.Select(f => f.RunAsync(load._stop.Token)));
        try
        {
            await Eventually.TrueAsync(() => Task.FromResult(load.Followers.All(f => Locked(f, () => f.View!.Following))
                && load.Finite.All(f => Locked(f, () => f.Received.Count >= 3))), TimeSpan.FromSeconds(60),
                "every follower is live and every finite stream under way");
        }
        catch (TimeoutException exception)
        {
            var waiting = load.Followers.Where(f => !Locked(f, () => f.View!.Following)).Concat(load.Finite.Where(f => f.Received.Count < 3)).ToList();
            await load.DisposeAsync();
            throw new TimeoutException($"{exception.Message}: {waiting.Count} are not, such as\n"
                + string.Join("\n", waiting.Take(5).Select(c => $"{c.PathAndQuery}: {c.Events.Count} events, {c.Reconnects} reconnects, {c.LastFailure}"))
                + $"\n{cluster.Logs()}", exception);
        }

        await using (var store = await cluster.Store.OpenConnectionAsync())
        {
            load._newestBefore = await store.QuerySingleAsync<long>("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM tasks");
        }

        load._writing = load.Writer.RunAsync(load._stopWriting.Token);
        await Eventually.TrueAsync(() => Task.FromResult(load.Writer.Seqs.Count >= 5 || load._writing.IsCompleted), TimeSpan.FromSeconds(30), "writes are acknowledged");
        return load;
    }

    /// <summary>
    /// The time from <paramref name="fault"/> (a Stopwatch timestamp) until every client is streaming again: for each
    /// client whose connection broke between <paramref name="fault"/> and <paramref name="until"/>, when the first
    /// event arrived after its last such break. Zero when no client lost its connection.
    /// </summary>
    public TimeSpan RecoveryAfter(long fault, long until)
    {
        var recovered = fault;
        foreach (var client in Followers.Concat(Finite))
        {
            lock (client.Events)
            {
                var lastBreak = client.Connections.Where(c => c.Broken >= fault && c.Broken <= until).Select(c => c.Broken).Max();
                if (lastBreak is not { } broken)
                {
                    continue;
                }

                var back = client.Connections.Where(c => c.Started >= broken && c.FirstEvent is not null).Select(c => c.FirstEvent).Min()
                    ?? client.Connections[^1].Started; // resumed with nothing left to send (204)
                recovered = Math.Max(recovered, back);
            }
        }

        return Stopwatch.GetElapsedTime(fault, recovered);
    }

    /// <summary>
    /// Lets the finite streams finish and the writer stop, then waits until every follower's view equals /tasks/list
    /// with its filter, and checks: every finite stream got every task of its filter once, in order; every
    /// acknowledged write is in the table and nothing else the writer sent; the change log is one unbroken sequence.
    /// </summary>
    public async Task FinishAndCheckAsync()
    {
        await Task.WhenAll(_streaming).WaitAsync(TimeSpan.FromSeconds(180));
        await _stopWriting.CancelAsync();
        await _writing;
        ThrowIfFollowerFailed();

        await using var store = await _cluster.Store.OpenConnectionAsync();
        foreach (var client in Finite)
        {
            var completed = client.PathAndQuery.Contains("completed=true") ? "completed" : client.PathAndQuery.Contains("completed=false") ? "NOT completed" : "TRUE";
            var expected = await store.QueryAsync<long>($"SELECT id FROM tasks WHERE {completed} ORDER BY id LIMIT {_limit}");
            Assert.Equal(expected, client.Received);
        }

        await FollowersEqualTheListAsync();

        var written = (await store.QueryAsync<(long Id, string Title, bool Completed)>(
            $"SELECT id, title, completed FROM tasks WHERE id > {_newestBefore} ORDER BY id")).ToList();
        Assert.Equal(Writer.Tasks.OrderBy(t => t.Key).Select(t => (t.Key, t.Value.Title, t.Value.Completed)), written);
        Assert.True(Writer.Seqs.Zip(Writer.Seqs.Skip(1)).All(p => p.First < p.Second), "each acknowledged write has a later change number than the one before");
        var (count, distinct, low, high, horizon, head) = await store.QuerySingleAsync<(long, long, long, long, long, long)>(
            "SELECT COUNT(*), COUNT(DISTINCT seq), CAST(MIN(seq) AS BIGINT), CAST(MAX(seq) AS BIGINT), "
            + "(SELECT CAST(horizon AS BIGINT) FROM task_feed), (SELECT CAST(head AS BIGINT) FROM task_feed) FROM task_changes");
        Assert.Equal((head - horizon, head - horizon, horizon + 1, head), (count, distinct, low, high));
        Assert.Subset(new HashSet<long>(await store.QueryAsync<long>("SELECT seq FROM task_changes")), Writer.Seqs.ToHashSet());
    }

    private async Task FollowersEqualTheListAsync()
    {
        var last = "";
        try
        {
            await Eventually.TrueAsync(async () =>
            {
                ThrowIfFollowerFailed();
                // Index 0: no filter; 1: completed=true; 2: completed=false.
                var lists = new[] { await _cluster.MatchingAsync(_http, null), await _cluster.MatchingAsync(_http, true), await _cluster.MatchingAsync(_http, false) };
                var behind = Followers.Where(f => Locked(f, () =>
                {
                    var list = lists[f.PathAndQuery.Contains("completed=true") ? 1 : f.PathAndQuery.Contains("completed=false") ? 2 : 0];
                    var expected = f.View!.Expected(list, limited: true).OrderBy(t => t.Key);
                    return !expected.SequenceEqual(f.View.Tasks.OrderBy(t => t.Key));
                })).ToList();
                last = string.Join("\n", behind.Take(5).Select(f => $"{f.PathAndQuery}: {f.View!.Tasks.Count} tasks at {f.View.Position}, {f.Reconnects} reconnects"));
                return behind.Count == 0;
            }, TimeSpan.FromSeconds(60), "every follower's view equals /tasks/list with its filter");
        }
        catch (TimeoutException exception)
        {
            throw new TimeoutException($"{exception.Message}; some that differ:\n{last}", exception);
        }
    }

    private void ThrowIfFollowerFailed()
    {
        if (_following.FirstOrDefault(f => f.IsFaulted) is { } failed)
        {
            failed.GetAwaiter().GetResult();
        }
    }

    private static T Locked<T>(ReconnectingSseClient client, Func<T> read)
    {
        lock (client.Events)
        {
            return read();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopWriting.CancelAsync();
        await _stop.CancelAsync();
        await Task.WhenAll(_following.Concat(_streaming).Append(_writing)).ContinueWith(_ => { });
        _http.Dispose();
        _stopWriting.Dispose();
        _stop.Dispose();
    }
}
