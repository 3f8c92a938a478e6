using System.Net.Http.Json;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using TaskStream.Grains;
using TaskStream.Grains.Data;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// A store whose newest change goes backwards under a running silo (a SQLite file re-created, a PostgreSQL
/// database restored from a backup): connected followers are told to reset and get the new store's snapshot,
/// instead of waiting for sequence numbers that will not come again (or spinning on them).
/// </summary>
public sealed class StoreResetTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task AFollowerOfAStoreThatWasRecreatedUnderItStartsOverWithTheNewStoresSnapshot(string store)
    {
        var directory = TaskStreamServer.NewDirectory();
        await using var postgres = store == "postgres" ? await TestPostgres.CreateAsync() : null;
        (string, string)[] settings = postgres is null ? [] :
            [("TaskStream:Database:Provider", "postgres"), ("TaskStream:Database:ConnectionString", postgres.ConnectionString)];
        await using var server = await TaskStreamServer.StartAsync(directory, configure: null,
            [.. settings, ("TaskStream:Streaming:EventIntervalMs", "0"), ("TaskStream:Streaming:FollowCheckMs", "200")]);
        for (var i = 0; i < 5; i++)
        {
            (await server.Http.PostAsJsonAsync("/tasks", new { title = $"Before {i}" })).EnsureSuccessStatusCode();
        }

        using var response = await server.Http.SendAsync(Sse.Get("/tasks/stream?follow=true"), HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var events = Sse.ParseAsync(body, timeout.Token).GetAsyncEnumerator(timeout.Token);
        while (await events.MoveNextAsync() && events.Current.Type != "live")
        {
        }

        Assert.Equal("10", events.Current.Id);

        // Another program replaces the store with a new one of five tasks: its newest change is 5.
        await RecreateAsync(server.DatabasePath, postgres?.ConnectionString);

        var after = new List<SseEvent>();
        while (await events.MoveNextAsync())
        {
            after.Add(events.Current);
            if (events.Current.Type == "live")
            {
                break;
            }
        }

        Assert.Equal(("reset", """{"reason":"store"}"""), (after[0].Type, after[0].Data));
        Assert.Equal([1L, 2, 3, 4, 5], after.Skip(1).SkipLast(1).Select(e => e.Json.GetProperty("id").GetInt64()));
        Assert.Equal(("live", "5"), (after[^1].Type, after[^1].Id));
    }

    private static async Task RecreateAsync(string sqliteFile, string? postgres)
    {
        await using (var connection = postgres is null ? (System.Data.Common.DbConnection)new SqliteConnection($"Data Source={sqliteFile}") : new NpgsqlConnection(postgres))
        {
            await connection.ExecuteAsync(postgres is null
                ? "DROP TABLE task_changes; DROP TABLE task_feed; DROP TABLE tasks;"
                : "DROP TABLE task_changes, task_feed, tasks; DROP FUNCTION taskstream_lock_feed, taskstream_record_change, taskstream_fixed_id;");
        }

        var options = postgres is null
            ? new DatabaseOptions { Path = sqliteFile }
            : new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = postgres };
        await using var store = await StandaloneStore.OpenAsync(options);
    }
}
