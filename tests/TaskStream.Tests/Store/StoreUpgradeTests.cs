using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Npgsql;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// A store created by an earlier TaskStream keeps its tasks and gains the change log: before writes existed (no
/// change columns), or with the change columns and tombstones of the first live feed.
/// </summary>
public sealed class StoreUpgradeTests
{
    // The tasks table as the first TaskStream created it: no sequence numbers, no tombstones.
    private const string BeforeWrites = """
        CREATE TABLE tasks (id BIGINT PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL, completed BOOLEAN NOT NULL);
        CREATE INDEX ix_tasks_completed_id ON tasks (completed, id);
        INSERT INTO tasks (id, title, description, completed) VALUES
            (1, 'Old one', 'from before', FALSE), (2, 'Old two', 'from before', TRUE), (7, 'Old seven', 'a gap', FALSE);
        """;

    // The first live feed's: a sequence number per task, and deleted tasks kept as tombstones (task 9, the highest id).
    private const string WithTombstones = """
        CREATE TABLE tasks (id BIGINT PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL, completed BOOLEAN NOT NULL,
                            deleted BOOLEAN NOT NULL DEFAULT FALSE, seq BIGINT NOT NULL, completed_seq BIGINT NOT NULL DEFAULT 0);
        CREATE INDEX ix_tasks_completed_id ON tasks (completed, id);
        CREATE UNIQUE INDEX ix_tasks_seq ON tasks (seq);
        INSERT INTO tasks (id, title, description, completed, deleted, seq, completed_seq) VALUES
            (1, 'Old one', 'from before', FALSE, FALSE, 1, 0), (2, 'Old two', 'from before', TRUE, FALSE, 6, 6),
            (7, 'Old seven', 'a gap', FALSE, FALSE, 3, 0), (9, '', '', FALSE, TRUE, 7, 0);
        """;

    [Theory]
    [InlineData("sqlite", false)]
    [InlineData("postgres", false)]
    [InlineData("sqlite", true)]
    [InlineData("postgres", true)]
    public async Task AStoreFromAnEarlierVersionIsUpgradedInPlaceKeepingItsTasksAndNeverReusingAnId(string store, bool tombstones)
    {
        var directory = TaskStreamServer.NewDirectory();
        await using var postgres = store == "postgres" ? await TestPostgres.CreateAsync() : null;
        await using (DbConnection old = postgres is null
            ? new SqliteConnection($"Data Source={Path.Combine(directory, "tasks.db")}")
            : new NpgsqlConnection(postgres.ConnectionString))
        {
            await old.OpenAsync();
            await using var command = old.CreateCommand();
            command.CommandText = tombstones ? WithTombstones : BeforeWrites;
            await command.ExecuteNonQueryAsync();
        }

        (string, string)[] settings = postgres is null ? [] :
            [("TaskStream:Database:Provider", "postgres"), ("TaskStream:Database:ConnectionString", postgres.ConnectionString)];
        await using var server = await TaskStreamServer.StartAsync(directory, configure: null, [.. settings, ("TaskStream:Streaming:EventIntervalMs", "0")]);

        var list = await server.Http.GetFromJsonAsync<JsonElement>("/tasks/list");
        Assert.Equal([1L, 2, 7], list.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("id").GetInt64()));

        // The next id follows the highest ever used (a tombstone's too); the next change follows the newest one.
        var (newId, newSeq) = tombstones ? (10, 8) : (8, 8);
        using var create = await server.Http.PostAsJsonAsync("/tasks", new { title = "New" });
        Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        Assert.Equal(newId, (await create.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64());
        Assert.Equal(newSeq.ToString(), create.Headers.GetValues("X-TaskStream-Seq").Single());

        // The old history is not in the log: a follower resuming from inside it is told to start over and gets
        // a fresh snapshot in change order; one resuming from the upgrade on gets just the new change.
        var resumedFromBefore = await FollowUntilLiveAsync(server, lastEventId: "2");
        long[] snapshotOrder = tombstones ? [1, 7, 2, newId] : [1, 2, 7, newId];
        Assert.Equal("reset", resumedFromBefore[0].Type);
        Assert.Equal($$"""{"reason":"horizon"}""", resumedFromBefore[0].Data);
        Assert.Equal(snapshotOrder, resumedFromBefore.Skip(1).SkipLast(1).Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("id").GetInt64()));
        Assert.Equal(("live", newSeq.ToString()), (resumedFromBefore[^1].Type, resumedFromBefore[^1].Id));

        var resumedFromUpgrade = await FollowUntilLiveAsync(server, lastEventId: (newSeq - 1).ToString());
        Assert.Equal([("task", newSeq.ToString()), ("live", newSeq.ToString())], resumedFromUpgrade.Select(e => (e.Type, e.Id!)));
    }

    private static async Task<List<SseEvent>> FollowUntilLiveAsync(TaskStreamServer server, string lastEventId)
    {
        using var response = await server.Http.SendAsync(Sse.Get("/tasks/stream?follow=true", lastEventId), HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var events = new List<SseEvent>();
        await foreach (var e in Sse.ParseAsync(body))
        {
            events.Add(e);
            if (e.Type == "live")
            {
                break;
            }
        }

        return events;
    }
}
