using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Dapper;
using Microsoft.Data.Sqlite;

namespace TaskStream.Bench;

/// <summary>
/// The baseline's live feed, the floor for <c>follow</c>: <c>GET /tasks/stream?follow=true</c> sends the silo's follow
/// events (the snapshot's <c>task</c> events with change numbers as ids, <c>live</c>, then a <c>task</c> event per
/// change) from one snapshot read with Dapper, and <c>POST /tasks</c> inserts into the silo's schema (its triggers
/// number the change) and hands the new row to every open follower from memory: no Orleans, no read per follower.
/// Only writes made through it reach its followers (it does not watch the store for other writers).
/// </summary>
public static partial class BaselineServer
{
    private const string HeadSql = "SELECT head FROM task_feed";
    private const string SnapshotSql = "SELECT id AS Id, title AS Title, description AS Description, completed AS Completed, seq AS Seq " +
        "FROM tasks WHERE seq <= @Until ORDER BY seq";
    private const string CreateSql = "INSERT INTO tasks (title, description, completed) VALUES (@Title, @Description, @Completed) RETURNING id";
    private const string WrittenSql = "SELECT id AS Id, title AS Title, description AS Description, completed AS Completed, seq AS Seq " +
        "FROM tasks WHERE id = @Id";

    // Every open follower's queue of changes; a write is handed to each, in the order the store numbered them.
    private static readonly HashSet<Channel<ChangedRow>> FollowerQueues = [];
    private static readonly Lock FollowersGate = new();
    private static readonly SemaphoreSlim OneWriter = new(1, 1);

    private static async IAsyncEnumerable<SseItem<object>> FollowAsync(string connectionString, [EnumeratorCancellation] CancellationToken token)
    {
        // Listening before the snapshot is read: a change committed after the read is queued, one before it is in it.
        var changes = Channel.CreateUnbounded<ChangedRow>(new UnboundedChannelOptions { SingleReader = true });
        lock (FollowersGate)
        {
            FollowerQueues.Add(changes);
        }

        Interlocked.Increment(ref _activeStreams);
        try
        {
            long head;
            List<ChangedRow> snapshot;
            await using (var connection = new SqliteConnection(connectionString))
            {
                connection.StateChange += OnConnectionStateChange;
                await connection.OpenAsync(token);
                // One read transaction: the head and the rows come from the same state of the store.
                await using var read = connection.BeginTransaction(deferred: true);
                head = await connection.ExecuteScalarAsync<long>(new CommandDefinition(HeadSql, transaction: read, cancellationToken: token));
                snapshot = (await connection.QueryAsync<ChangedRow>(new CommandDefinition(SnapshotSql, new { Until = head }, read, cancellationToken: token))).AsList();
            }

            var first = true;
            foreach (var row in snapshot)
            {
                yield return Event(row, first);
                first = false;
            }

            yield return new SseItem<object>(new FollowLive(snapshot.Count, "baseline", "baseline"), "live")
            {
                EventId = head.ToString(CultureInfo.InvariantCulture),
                ReconnectionInterval = first ? Retry : null,
            };
            await foreach (var row in changes.Reader.ReadAllAsync(token))
            {
                if (row.Seq > head)
                {
                    yield return Event(row, first: false);
                }
            }
        }
        finally
        {
            lock (FollowersGate)
            {
                FollowerQueues.Remove(changes);
            }

            Interlocked.Decrement(ref _activeStreams);
            Ended.AddOrUpdate("cancelled", 1, (_, n) => n + 1); // a follow stream ends only when its client leaves
        }

        static SseItem<object> Event(ChangedRow row, bool first) => new(row.ToTask(), "task")
        {
            EventId = row.Seq.ToString(CultureInfo.InvariantCulture),
            ReconnectionInterval = first ? Retry : null,
        };
    }

    /// <summary>
    /// <c>POST /tasks</c>: the insert and the read of its change number in one transaction, then the row to every
    /// follower. One write at a time (SQLite has one writer anyway), so followers get changes in the store's order.
    /// </summary>
    private static async Task<IResult> CreateAsync(string connectionString, NewTaskBody body, HttpContext http)
    {
        if (string.IsNullOrWhiteSpace(body.Title))
        {
            return Results.UnprocessableEntity();
        }

        ChangedRow written;
        await OneWriter.WaitAsync(http.RequestAborted);
        try
        {
            await using (var connection = new SqliteConnection(connectionString))
            {
                connection.StateChange += OnConnectionStateChange;
                await connection.OpenAsync(http.RequestAborted);
                await using var write = await connection.BeginTransactionAsync(http.RequestAborted);
                var id = await connection.ExecuteScalarAsync<long>(new CommandDefinition(CreateSql,
                    new { body.Title, Description = body.Description ?? "", Completed = body.Completed ?? false }, write));
                written = await connection.QuerySingleAsync<ChangedRow>(new CommandDefinition(WrittenSql, new { Id = id }, write));
                await write.CommitAsync();
            }

            lock (FollowersGate)
            {
                foreach (var follower in FollowerQueues)
                {
                    follower.Writer.TryWrite(written);
                }
            }
        }
        finally
        {
            OneWriter.Release();
        }

        http.Response.Headers["X-TaskStream-Seq"] = written.Seq.ToString(CultureInfo.InvariantCulture);
        return TypedResults.Created($"/tasks/{written.Id}", written.ToTask());
    }

    internal sealed record NewTaskBody(string? Title, string? Description, bool? Completed);

    internal sealed record FollowLive(long Count, string Silo, string Relay);

    /// <summary>A task and its latest change number (settable properties, for Dapper: SQLite hands back Int64).</summary>
    internal sealed class ChangedRow
    {
        public long Id { get; set; }

        public string Title { get; set; } = "";

        public string Description { get; set; } = "";

        public bool Completed { get; set; }

        public long Seq { get; set; }

        public TaskRow ToTask() => new() { Id = Id, Title = Title, Description = Description, Completed = Completed };
    }
}
