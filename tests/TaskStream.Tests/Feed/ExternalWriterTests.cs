using System.Globalization;
using Dapper;
using Npgsql;
using TaskStream.Tests.Infrastructure;
using static TaskStream.Tests.Infrastructure.ExternalWriter;

namespace TaskStream.Tests;

/// <summary>
/// Another program writes to the store with plain SQL on the seed's columns — the <c>sqlite3</c> CLI beside the
/// running silos, <c>psql</c> — and followers on both silos of a cluster see every change within the store's bound
/// (SQLite 2 s: each silo asks <c>PRAGMA data_version</c>; PostgreSQL 1 s: LISTEN/NOTIFY), measured from the CLI's
/// exit. The silos read the store on their own only once a minute here, so nothing else can deliver in time.
/// </summary>
public abstract class ExternalWriterTests(SiloPair silos, TimeSpan bound)
{
    [Fact]
    public async Task AnInsertByAnotherProgramGivingOnlyTitleDescriptionAndCompletedReachesFollowersOnBothSilosWithinTheBound()
    {
        await using var onA = await LiveFollowerAsync(silos.A, "");
        await using var onB = await LiveFollowerAsync(silos.B, "");

        var run = await silos.External.RunAsync(
            $"INSERT INTO tasks (title, description, completed) VALUES ({Literal("Written by " + silos.External.Program)}, {Literal("plain SQL, past the API")}, FALSE) RETURNING id;" +
            "SELECT head FROM task_feed;");
        var (id, seq) = (long.Parse(run.Lines[0], CultureInfo.InvariantCulture), run.Lines[1]);

        var expected = $$"""{"id":{{id}},"title":"Written by {{silos.External.Program}}","description":"plain SQL, past the API","completed":false}""";
        foreach (var follower in new[] { onA, onB })
        {
            var e = await NextWithinBoundAsync(follower, run);
            Assert.Equal(("task", seq, expected), (e.Type, e.Id, e.Data));
        }

        Assert.Equal(expected, await silos.B.Http.GetStringAsync($"/tasks/{id}"));
    }

    [Fact]
    public async Task AnUpdateOfTitleAndCompletedByAnotherProgramReachesFollowersWithinTheBoundAndRemovesTheTaskFromAFilterItLeft()
    {
        var id = await InsertAsync("To be completed elsewhere", completed: false);
        await using var all = await LiveFollowerAsync(silos.A, "");
        await using var open = await LiveFollowerAsync(silos.B, "&completed=false");

        var run = await silos.External.RunAsync(
            $"UPDATE tasks SET title = {Literal("Done elsewhere")}, completed = TRUE WHERE id = {id}; SELECT head FROM task_feed;");
        var seq = run.Lines.Single();

        var changed = await NextWithinBoundAsync(all, run);
        Assert.Equal(("task", seq, $$"""{"id":{{id}},"title":"Done elsewhere","description":"","completed":true}"""), (changed.Type, changed.Id, changed.Data));
        var left = await NextWithinBoundAsync(open, run);
        Assert.Equal(("task-deleted", seq, $$"""{"id":{{id}}}"""), (left.Type, left.Id, left.Data));
    }

    [Fact]
    public async Task ADeleteByAnotherProgramReachesFollowersOnBothSilosAsTaskDeletedWithinTheBound()
    {
        var id = await InsertAsync("To be deleted elsewhere", completed: true);
        await using var onA = await LiveFollowerAsync(silos.A, "&completed=true");
        await using var onB = await LiveFollowerAsync(silos.B, "");

        var run = await silos.External.RunAsync($"DELETE FROM tasks WHERE id = {id}; SELECT head FROM task_feed;");
        var seq = run.Lines.Single();

        foreach (var follower in new[] { onA, onB })
        {
            var e = await NextWithinBoundAsync(follower, run);
            Assert.Equal(("task-deleted", seq, $$"""{"id":{{id}}}"""), (e.Type, e.Id, e.Data));
        }

        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await silos.A.Http.GetAsync($"/tasks/{id}")).StatusCode);
    }

    [Fact]
    public async Task FollowersOfEveryFilterOnBothSilosEndWithTheListWhileAThirdProcessWritesDirectly()
    {
        string[] filters = ["", "&completed=true", "&completed=false"];
        var followers = new List<(bool? Completed, FeedFollower Stream, FeedView View)>();
        try
        {
            foreach (var server in new[] { silos.A, silos.B })
            {
                foreach (var filter in filters)
                {
                    var view = new FeedView();
                    view.Connecting(null);
                    var stream = await FeedFollower.OpenAsync(server.Http, "/tasks/stream?follow=true" + filter);
                    foreach (var e in await stream.UntilLiveAsync())
                    {
                        view.Apply(e);
                    }

                    followers.Add((filter.Length == 0 ? null : (bool?)filter.EndsWith("true"), stream, view));
                }
            }

            // One process creates ten tasks (one of them a multi-row INSERT), another changes and deletes them.
            var created = await silos.External.RunAsync(string.Concat(Enumerable.Range(0, 8).Select(i =>
                    $"INSERT INTO tasks (title, description, completed) VALUES ({Literal($"Direct {i}")}, {Literal($"row {i}")}, {Literal(i % 3 == 0)}) RETURNING id;"))
                + "INSERT INTO tasks (title, description, completed) VALUES ('Direct 8', '', FALSE), ('Direct 9', '', TRUE) RETURNING id;");
            var ids = created.Lines.Select(line => long.Parse(line, CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(10, ids.Count);
            var barrier = await silos.External.RunAsync(
                string.Concat(ids.Select((id, i) => (i % 4) switch
                {
                    0 => $"UPDATE tasks SET completed = NOT completed WHERE id = {id};",
                    1 => $"UPDATE tasks SET title = {Literal($"Retitled {i}")}, completed = {Literal(i % 3 == 0)} WHERE id = {id};",
                    2 => $"DELETE FROM tasks WHERE id = {id};",
                    _ => $"UPDATE tasks SET completed = TRUE WHERE id = {id}; UPDATE tasks SET completed = FALSE WHERE id = {id};",
                }))
                + BarrierSql);
            var last = long.Parse(barrier.Lines[^1], CultureInfo.InvariantCulture);

            foreach (var (completed, stream, view) in followers)
            {
                await CatchUpAsync(stream, view, last);
                var expected = await silos.MatchingAsync(completed);
                Assert.Equal(view.Expected(expected, limited: false).OrderBy(t => t.Key), view.Tasks.OrderBy(t => t.Key));
            }
        }
        finally
        {
            foreach (var (_, stream, _) in followers)
            {
                await stream.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A change every filter hears of — a new open task, then completed — and the store's head after it, printed last.
    /// (Completion: <c>completed=false</c> followers lose the task, <c>completed=true</c> ones get it, the rest update it.)
    /// </summary>
    protected const string BarrierSql =
        "INSERT INTO tasks (title, description, completed) VALUES ('Barrier', '', FALSE);" +
        "UPDATE tasks SET completed = TRUE WHERE id = (SELECT MAX(id) FROM tasks);" +
        "SELECT head FROM task_feed;";

    /// <summary>Applies <paramref name="stream"/>'s events to <paramref name="view"/> until it has change <paramref name="seq"/>.</summary>
    private static async Task CatchUpAsync(FeedFollower stream, FeedView view, long seq)
    {
        while (view.Position < seq)
        {
            view.Apply(await stream.NextAsync());
        }
    }

    protected async Task<long> InsertAsync(string title, bool completed) =>
        long.Parse((await silos.External.RunAsync(
            $"INSERT INTO tasks (title, completed) VALUES ({Literal(title)}, {Literal(completed)}) RETURNING id")).Lines.Single(), CultureInfo.InvariantCulture);

    private static async Task<FeedFollower> LiveFollowerAsync(TaskStreamServer server, string filter)
    {
        var follower = await FeedFollower.OpenAsync(server.Http, "/tasks/stream?follow=true" + filter);
        await follower.UntilLiveAsync();
        return follower;
    }

    private async Task<SseEvent> NextWithinBoundAsync(FeedFollower follower, ExternalRun run)
    {
        var (e, after) = await follower.NextAfterAsync(run.ExitedAt);
        Assert.True(after <= bound,
            $"{e.Type} {e.Id} arrived {after.TotalMilliseconds:F0} ms after {silos.External.Program} exited (bound {bound.TotalMilliseconds:F0} ms)");
        return e;
    }
}

[Collection(nameof(TwoSilos))]
public sealed class SqliteExternalWriterTests(TwoSilos silos) : ExternalWriterTests(silos, TimeSpan.FromSeconds(2));

[Collection(nameof(PostgresTwoSilos))]
public sealed class PostgresExternalWriterTests(PostgresTwoSilos silos) : ExternalWriterTests(silos, TimeSpan.FromSeconds(1))
{
    [Fact]
    public async Task UnderConcurrentPsqlProcessesAndTransactionsFollowersSeeEveryChangeOnceInCommitOrderWithNoGapAndEndWithTheList()
    {
        (bool? Completed, TaskStreamServer Server)[] setup = [(null, silos.A), (null, silos.B), (true, silos.A), (false, silos.B)];
        var followers = new List<(bool? Completed, FeedFollower Stream, FeedView View, long From)>();
        try
        {
            foreach (var (completed, server) in setup)
            {
                var view = new FeedView();
                view.Connecting(null);
                var stream = await FeedFollower.OpenAsync(server.Http,
                    "/tasks/stream?follow=true" + (completed is { } c ? $"&completed={(c ? "true" : "false")}" : ""));
                foreach (var e in await stream.UntilLiveAsync())
                {
                    view.Apply(e);
                }

                followers.Add((completed, stream, view, view.Position));
            }

            // Four psql processes at a time, eight rounds, beside three connections of this test's own running
            // multi-statement transactions that sleep while they hold the feed (and a third of them roll back).
            var processes = Enumerable.Range(0, 4).Select(writer => Task.Run(async () =>
            {
                for (var round = 0; round < 8; round++)
                {
                    await silos.External.RunAsync(PsqlScript(writer, round));
                }
            }));
            var connections = Enumerable.Range(0, 3).Select(writer => Task.Run(() => TransactionsAsync(writer, 12)));
            await Task.WhenAll([.. processes, .. connections]);
            var last = long.Parse((await silos.External.RunAsync(BarrierSql)).Lines[^1], CultureInfo.InvariantCulture);

            await using var store = await silos.External.OpenConnectionAsync();
            var from = followers.Min(f => f.From);
            var logged = (await store.QueryAsync<long>("SELECT seq FROM task_changes WHERE seq > @From ORDER BY seq", new { From = from })).ToList();
            Assert.Equal(Enumerable.Range(1, (int)(last - from)).Select(i => from + i), logged); // the log itself has no gap

            foreach (var (completed, stream, view, start) in followers)
            {
                var ids = new List<long>();
                while (view.Position < last)
                {
                    var e = await stream.NextAsync();
                    view.Apply(e); // checks: ids strictly increase, each after the one before
                    if (e.Type is "task" or "task-deleted")
                    {
                        ids.Add(long.Parse(e.Id!, CultureInfo.InvariantCulture));
                    }
                }

                if (completed is null)
                {
                    // Every change, each once, numbered one after another: no change was seen before an earlier one committed.
                    Assert.Equal(Enumerable.Range(1, (int)(last - start)).Select(i => start + i), ids);
                }

                var expected = await silos.MatchingAsync(completed);
                Assert.Equal(view.Expected(expected, limited: false).OrderBy(t => t.Key), view.Tasks.OrderBy(t => t.Key));
            }
        }
        finally
        {
            foreach (var (_, stream, _, _) in followers)
            {
                await stream.DisposeAsync();
            }
        }
    }

    // An implicit transaction of one statement, an explicit one of several (touching other writers' tasks too), or one
    // that rolls back: its numbers must not leave a gap.
    private static string PsqlScript(int writer, int round)
    {
        var title = Literal($"psql {writer}.{round}");
        const string Mine = "currval(pg_get_serial_sequence('tasks', 'id'))";
        return (round % 4) switch
        {
            0 => $"INSERT INTO tasks (title, description, completed) VALUES ({title}, 'single', {Literal(round % 3 == 0)})",
            1 => $"BEGIN; INSERT INTO tasks (title, description, completed) VALUES ({title}, 'multi', FALSE);" +
                 $"UPDATE tasks SET completed = TRUE, title = {title} || ' done' WHERE id = {Mine};" +
                 "UPDATE tasks SET completed = NOT completed WHERE id IN (SELECT id FROM tasks ORDER BY id DESC LIMIT 3); COMMIT;",
            2 => $"BEGIN; INSERT INTO tasks (title, description, completed) VALUES ({title}, 'rolled back', TRUE);" +
                 "DELETE FROM tasks WHERE id = (SELECT MIN(id) FROM tasks); ROLLBACK;",
            _ => $"BEGIN; INSERT INTO tasks (title, completed) VALUES ({title}, TRUE); SELECT pg_sleep(0.02);" +
                 "DELETE FROM tasks WHERE id = (SELECT MIN(id) FROM tasks WHERE description = 'single'); COMMIT;",
        };
    }

    private async Task TransactionsAsync(int writer, int count)
    {
        await using var connection = (NpgsqlConnection)await silos.External.OpenConnectionAsync();
        for (var i = 0; i < count; i++)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            var id = await connection.ExecuteScalarAsync<long>(
                "INSERT INTO tasks (title, description, completed) VALUES (@Title, 'npgsql', FALSE) RETURNING id",
                new { Title = $"npgsql {writer}.{i}" }, transaction);
            await connection.ExecuteAsync("SELECT pg_sleep(0.01)", transaction: transaction);
            await connection.ExecuteAsync("UPDATE tasks SET title = title || ' (edited)', completed = NOT completed WHERE id = @Id", new { Id = id }, transaction);
            if (i % 3 == 2)
            {
                await transaction.RollbackAsync();
            }
            else
            {
                await connection.ExecuteAsync("DELETE FROM tasks WHERE id = (SELECT MIN(id) FROM tasks WHERE description = 'npgsql')", transaction: transaction);
                await transaction.CommitAsync();
            }
        }
    }
}
