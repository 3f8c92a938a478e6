using Dapper;
using Microsoft.Data.Sqlite;
using TaskStream.Grains.Data;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// SQLite reads run on kept connections with their statements prepared once. Lending must never cost correctness:
/// a kept connection sees every commit made since its last read (no statement left holding an old snapshot), two
/// reads at once never share one, and no more are kept than asked.
/// </summary>
public sealed class ReadConnectionsTests
{
    private const string TitlesSql = "SELECT title FROM tasks WHERE id >= @From ORDER BY id";

    [Fact]
    public async Task AKeptConnectionReusesItsPreparedStatementAndSeesEveryCommitSinceItsLastRead()
    {
        var (file, metrics) = await NewStoreFileAsync();
        await using var reads = new ReadConnections(() => new SqliteConnection($"Data Source={file}"), keep: true, maxIdle: 2, metrics);

        (ReadConnection Read, System.Data.Common.DbCommand Command) first;
        await using (var read = await reads.OpenAsync(CancellationToken.None))
        {
            first = (read, read.Command(TitlesSql, ("@From", 1L)));
            await using var reader = await first.Command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync()); // one row of five: the reader is left before its end, as a full page's is
        }

        await using (var writer = new SqliteConnection($"Data Source={file};Pooling=False"))
        {
            await writer.ExecuteAsync("UPDATE tasks SET title = 'Changed' WHERE id = 1");
        }

        await using (var read = await reads.OpenAsync(CancellationToken.None))
        {
            var command = read.Command(TitlesSql, ("@From", 1L));
            Assert.Same(first.Read, read);
            Assert.Same(first.Command, command);
            Assert.Equal("Changed", (string?)await command.ExecuteScalarAsync());
        }

        Assert.Equal(0, metrics.OpenConnections);
        Assert.Equal(2, metrics.ConnectionsOpened);
    }

    [Fact]
    public async Task ReadsAtOnceNeverShareAConnectionAndNoMoreAreKeptThanAsked()
    {
        var (file, metrics) = await NewStoreFileAsync();
        var reads = new ReadConnections(() => new SqliteConnection($"Data Source={file}"), keep: true, maxIdle: 1, metrics);

        var one = await reads.OpenAsync(CancellationToken.None);
        var two = await reads.OpenAsync(CancellationToken.None);
        Assert.NotSame(one.Connection, two.Connection);
        Assert.Equal(2, metrics.OpenConnections);

        await one.DisposeAsync();
        await two.DisposeAsync(); // one is kept already: this one is closed
        Assert.Equal(System.Data.ConnectionState.Open, one.Connection.State);
        Assert.Equal(System.Data.ConnectionState.Closed, two.Connection.State);
        Assert.Equal(0, metrics.OpenConnections);

        await reads.DisposeAsync();
        Assert.Equal(System.Data.ConnectionState.Closed, one.Connection.State);
    }

    [Fact]
    public async Task ParametersAreBoundAfreshOnEveryRead()
    {
        var (file, metrics) = await NewStoreFileAsync();
        await using var reads = new ReadConnections(() => new SqliteConnection($"Data Source={file}"), keep: true, maxIdle: 1, metrics);

        foreach (var from in new[] { 1L, 4L, 6L, 2L })
        {
            await using var read = await reads.OpenAsync(CancellationToken.None);
            await using var reader = await read.Command(TitlesSql, ("@From", from)).ExecuteReaderAsync();
            var count = 0;
            while (await reader.ReadAsync())
            {
                count++;
            }

            Assert.Equal((int)Math.Max(0, 6 - from), count);
        }
    }

    private static async Task<(string File, TaskStream.Grains.TaskStreamMetrics Metrics)> NewStoreFileAsync()
    {
        var file = Path.Combine(TaskStreamServer.NewDirectory(), "tasks.db");
        await (await StandaloneStore.OpenAsync(new DatabaseOptions { Path = file })).DisposeAsync(); // the schema and the five seed tasks

        return (file, StandaloneStore.NewMetrics());
    }
}
