using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Npgsql;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>A store created by TaskStream before writes existed keeps its tasks and gains the live feed.</summary>
public sealed class StoreUpgradeTests
{
    // The tasks table as the first TaskStream created it: no sequence numbers, no tombstones.
    private const string OldSchema = """
        CREATE TABLE tasks (id BIGINT PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL, completed BOOLEAN NOT NULL);
        CREATE INDEX ix_tasks_completed_id ON tasks (completed, id);
        INSERT INTO tasks (id, title, description, completed) VALUES
            (1, 'Old one', 'from before', FALSE), (2, 'Old two', 'from before', TRUE), (7, 'Old seven', 'a gap', FALSE);
        """;

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task AStoreFromBeforeWritesIsUpgradedInPlaceKeepingItsTasks(string store)
    {
        var directory = TaskStreamServer.NewDirectory();
        await using var postgres = store == "postgres" ? await TestPostgres.CreateAsync() : null;
        await using (DbConnection old = postgres is null
            ? new SqliteConnection($"Data Source={Path.Combine(directory, "tasks.db")}")
            : new NpgsqlConnection(postgres.ConnectionString))
        {
            await old.OpenAsync();
            await using var command = old.CreateCommand();
            command.CommandText = OldSchema;
            await command.ExecuteNonQueryAsync();
        }

        (string, string)[] settings = postgres is null ? [] :
            [("TaskStream:Database:Provider", "postgres"), ("TaskStream:Database:ConnectionString", postgres.ConnectionString)];
        await using var server = await TaskStreamServer.StartAsync(directory, configure: null, [.. settings, ("TaskStream:Streaming:EventIntervalMs", "0")]);

        var list = await server.Http.GetFromJsonAsync<JsonElement>("/tasks/list");
        Assert.Equal([1L, 2, 7], list.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("id").GetInt64()));

        using var create = await server.Http.PostAsJsonAsync("/tasks", new { title = "New" });
        Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        Assert.Equal(8, (await create.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64());
        Assert.Equal("8", create.Headers.GetValues("X-TaskStream-Seq").Single());

        // The old tasks' sequence numbers are their ids: a follower resuming after 2 gets task 7, then the new one.
        using var response = await server.Http.SendAsync(Sse.Get("/tasks/stream?follow=true", lastEventId: "2"), HttpCompletionOption.ResponseHeadersRead);
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

        Assert.Equal([("task", "7"), ("task", "8"), ("live", "8")], events.Select(e => (e.Type, e.Id!)));
    }
}
