using System.Data.Common;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// A write that cannot get the store's write lock in time (another program holds it) fails with 503 and is not
/// made, not even once the lock is free: no write commits after its client was told it failed.
/// </summary>
public sealed class WriteTimeoutTests
{
    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task AWriteBehindAnotherWritersLockIsRefusedWith503AfterTheWriteTimeoutAndNeverMade(string store)
    {
        var directory = TaskStreamServer.NewDirectory();
        await using var postgres = store == "postgres" ? await TestPostgres.CreateAsync() : null;
        (string, string)[] settings = postgres is null ? [] :
            [("TaskStream:Database:Provider", "postgres"), ("TaskStream:Database:ConnectionString", postgres.ConnectionString)];
        await using var server = await TaskStreamServer.StartAsync(directory, configure: null,
            [.. settings, ("TaskStream:Database:WriteTimeoutSeconds", "2")]);

        // Another program takes the write lock and keeps it for longer than the write timeout.
        await using DbConnection holder = postgres is null
            ? new SqliteConnection($"Data Source={server.DatabasePath}")
            : new NpgsqlConnection(postgres.ConnectionString);
        await holder.OpenAsync();
        var transaction = await holder.BeginTransactionAsync(); // SQLite: BEGIN, made a writer by the UPDATE below
        await holder.ExecuteAsync("UPDATE task_feed SET retain = retain", transaction: transaction);

        var started = Stopwatch.StartNew();
        using var response = await server.Http.PostAsJsonAsync("/tasks", new { title = "Too late" });
        var waited = started.Elapsed;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("1", response.Headers.GetValues("Retry-After").Single());
        Assert.InRange(waited, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(15));

        await transaction.RollbackAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        var list = await server.Http.GetFromJsonAsync<JsonElement>("/tasks/list");
        Assert.DoesNotContain(list.GetProperty("tasks").EnumerateArray(), t => t.GetProperty("title").GetString() == "Too late");
        using var next = await server.Http.PostAsJsonAsync("/tasks", new { title = "In time" });
        Assert.Equal(HttpStatusCode.Created, next.StatusCode);
        Assert.Equal("6", next.Headers.GetValues("X-TaskStream-Seq").Single()); // the refused write took no number
    }
}
