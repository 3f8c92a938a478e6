using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace TaskStream.Bench;

/// <summary>One write in <c>follow</c>: its change number, when it was answered (Stopwatch timestamp), and how long it took.</summary>
internal sealed record Write(long Seq, long RespondedAt, double PostMs);

/// <summary>The writes <c>follow</c> fans out: through the API, and straight into the store as another program would.</summary>
internal static class FollowWrites
{
    /// <summary>
    /// Makes <paramref name="count"/> writes one after the other, each awaited (≤ 30 s) at every live follower
    /// before the next, so a write's delivery is its own and not queued behind the previous one's.
    /// <paramref name="before"/> writes were fanned out to these followers already.
    /// </summary>
    public static async Task<List<Write>> WriteAllAsync(BenchContext context, IFollowers followers, int count, int before, Func<int, Task<Write>> write)
    {
        var writes = new List<Write>();
        for (var i = 0; i < count; i++)
        {
            writes.Add(await write(i));
            try
            {
                await followers.WhenReceivedAsync((long)followers.Live * (before + i + 1)).WaitAsync(TimeSpan.FromSeconds(30), context.Token);
            }
            catch (TimeoutException)
            {
                // A follower that missed it is counted when the level checks every follower's events.
            }
        }

        return writes;
    }

    /// <summary>A write through the API: <c>POST /tasks</c>, its change number from <c>X-TaskStream-Seq</c>.</summary>
    public static async Task<Write> PostAsync(BenchContext context, ServerProcess writer, int i)
    {
        var sent = Stopwatch.GetTimestamp();
        using var content = new StringContent($$"""{"title":"bench follow {{i}}"}""", Encoding.UTF8, "application/json");
        using var response = await context.Load.Http.PostAsync(writer.Url("/tasks"), content, context.Token);
        var responded = Stopwatch.GetTimestamp();
        if (response.StatusCode != HttpStatusCode.Created
            || !response.Headers.TryGetValues("X-TaskStream-Seq", out var values)
            || !long.TryParse(values.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var seq))
        {
            throw new InvalidOperationException($"POST /tasks answered {(int)response.StatusCode} without a sequence number: " +
                await response.Content.ReadAsStringAsync(context.Token));
        }

        return new Write(seq, responded, Stopwatch.GetElapsedTime(sent, responded).TotalMilliseconds);
    }

    /// <summary>A connection to the silo's store of the bench's own, as another program would open one.</summary>
    public static async Task<DbConnection> OpenStoreAsync(string sqlitePath, string? postgres, CancellationToken cancellationToken)
    {
        DbConnection connection = postgres is null
            ? new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = sqlitePath, DefaultTimeout = 5, Pooling = false }.ToString())
            : new NpgsqlConnection(postgres);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    /// <summary>An INSERT of the seed's columns only, committed on its own (no transaction); its change number read after.</summary>
    public static async Task<Write> InsertAsync(DbConnection store, int i, CancellationToken cancellationToken)
    {
        var sent = Stopwatch.GetTimestamp();
        var id = await store.ExecuteScalarAsync<long>(new CommandDefinition(
            "INSERT INTO tasks (title, description, completed) VALUES (@Title, '', FALSE) RETURNING id", new { Title = $"bench direct {i}" },
            cancellationToken: cancellationToken));
        var committed = Stopwatch.GetTimestamp();
        var seq = await store.ExecuteScalarAsync<long>(new CommandDefinition("SELECT seq FROM tasks WHERE id = @Id", new { Id = id }, cancellationToken: cancellationToken));
        return new Write(seq, committed, Stopwatch.GetElapsedTime(sent, committed).TotalMilliseconds);
    }
}
