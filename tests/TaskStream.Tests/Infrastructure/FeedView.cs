using System.Globalization;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// What a follow client holds, built only from the events it received, as the README tells clients to:
/// <c>task</c> = upsert, <c>task-deleted</c> = remove, <c>reset</c> = clear; across reconnects it resumes with
/// the last event id it saw. It checks each connection's promises as events arrive (a broken one throws):
/// change and snapshot ids strictly increase on a connection (a <c>reset</c> restarts them), each after the
/// Last-Event-ID the connection resumed from, so no change arrives twice; <c>live</c> never goes back.
/// For a follower with <c>limit</c> it also keeps what decides which tasks its view may hold: the ids of its
/// last snapshot and the position its catch-up started from.
/// </summary>
public sealed class FeedView
{
    private readonly Dictionary<long, string> _tasks = [];
    private readonly HashSet<long> _snapshot = [];
    private bool _inSnapshot = true; // no snapshot finished (or resumed from) since the last reset
    private long _last; // the newest id on this connection, or where it resumed from

    /// <summary>Task id → the task's JSON, as the client holds it.</summary>
    public IReadOnlyDictionary<long, string> Tasks => _tasks;

    /// <summary>What an EventSource sends on reconnect: the last id it saw (events without an id leave it).</summary>
    public string? LastEventId { get; private set; }

    /// <summary>The newest id received on the current connection (0 after a reset, until an event with an id).</summary>
    public long Position => _last;

    /// <summary>Past the snapshot: reading the log (after <c>live</c>, or resumed from a position).</summary>
    public bool Following => !_inSnapshot;

    /// <summary>Where the catch-up after the last snapshot began (its <c>live</c>, or a resume before that), if it did.</summary>
    public long? CatchUpFrom { get; private set; }

    /// <summary>The tasks the last snapshot sent (all of them, or those received before a disconnect).</summary>
    public IReadOnlySet<long> SnapshotIds => _snapshot;

    /// <summary>A new connection, with the Last-Event-ID it sends (<see cref="LastEventId"/>, or none for a fresh start).</summary>
    public void Connecting(string? lastEventId)
    {
        if (lastEventId is null)
        {
            // A new client (a page loaded again): nothing held, nothing to resume from.
            Clear();
            LastEventId = null;
            return;
        }

        _last = long.Parse(lastEventId, CultureInfo.InvariantCulture);
        if (_inSnapshot)
        {
            // Cut off mid-snapshot: the server resumes from the last task received, with every change after it.
            (_inSnapshot, CatchUpFrom) = (false, _last);
        }
    }

    public void Apply(SseEvent e)
    {
        switch (e.Type)
        {
            case "reset":
                Assert.Null(e.Id);
                Clear();
                return;
            case "task":
                var id = e.Json.GetProperty("id").GetInt64();
                Advance(e, strictly: true);
                _tasks[id] = e.Data;
                if (_inSnapshot)
                {
                    _snapshot.Add(id);
                }

                break;
            case "task-deleted":
                Assert.False(_inSnapshot, $"task-deleted {e.Id} inside a snapshot");
                Advance(e, strictly: true);
                _tasks.Remove(e.Json.GetProperty("id").GetInt64());
                break;
            case "live":
                Advance(e, strictly: false);
                if (_inSnapshot)
                {
                    (_inSnapshot, CatchUpFrom) = (false, _last);
                }

                break;
            default:
                Assert.Fail($"unexpected event {e.Type} on a follow stream");
                break;
        }
    }

    /// <summary>
    /// What the view must equal once writes settled, given the store's tasks that match the follower's filter now
    /// (id → (JSON, seq of the task's latest change)): all of them; with <c>limit</c>, those the last snapshot sent
    /// or changed after the catch-up began.
    /// </summary>
    public Dictionary<long, string> Expected(IReadOnlyDictionary<long, (string Json, long Seq)> matching, bool limited) =>
        matching.Where(t => !limited || _snapshot.Contains(t.Key) || t.Value.Seq > CatchUpFrom)
            .ToDictionary(t => t.Key, t => t.Value.Json);

    private void Advance(SseEvent e, bool strictly)
    {
        Assert.NotNull(e.Id);
        var id = long.Parse(e.Id, CultureInfo.InvariantCulture);
        Assert.True(strictly ? id > _last : id >= _last, $"{e.Type} id {id} after id {_last} on one connection");
        (_last, LastEventId) = (id, e.Id);
    }

    private void Clear()
    {
        _tasks.Clear();
        _snapshot.Clear();
        (_inSnapshot, CatchUpFrom, _last) = (true, null, 0);
    }
}
