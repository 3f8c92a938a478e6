using System.Diagnostics.Metrics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Dapper;
using TaskStream.Grains;
using TaskStream.Grains.Data;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>A page holds at most PageSize rows and about PageBytes of text, so wide rows cannot make a stream's buffer large.</summary>
public sealed class PageBudgetTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task PagesOfWideRowsEndAtTheirByteBudgetInEveryKindOfQuery(bool follow)
    {
        var file = Path.Combine(TaskStreamServer.NewDirectory(), "tasks.db");
        var metrics = StandaloneStore.NewMetrics();
        await using var store = await StandaloneStore.OpenAsync(new DatabaseOptions { Path = file, PageSize = 512, PageBytes = 16 * 1024 }, metrics);
        await using (var connection = new SqliteConnection($"Data Source={file}"))
        {
            // 100 tasks of ~2,000 characters (4 KB as UTF-16): four fit a 16 KiB page.
            await connection.ExecuteAsync("INSERT INTO tasks (title, description) VALUES (@Title, @Description)",
                Enumerable.Range(1, 100).Select(i => new { Title = $"Wide {i}", Description = new string('d', 2000) }));
        }

        var before = metrics.ConnectionsOpened;
        var read = follow
            ? await store.FollowAsync(new TaskQuery(ResumeAfter: 5, Follow: true), "test", new NeverChanges())
                .TakeWhile(e => e is not FollowingLive).CountAsync()
            : await store.QueryAsync(new TaskQuery(After: 5)).CountAsync();

        Assert.Equal(100, read);
        var pages = metrics.ConnectionsOpened - before;
        Assert.InRange(pages, 100 / 5, 100 / 3); // four or five rows a page (the one that crosses the budget ends it), not all 100 in one
    }

    private sealed class NeverChanges : IChangeSignal
    {
        public ValueTask WaitForChangeAfterAsync(long seq, CancellationToken cancellationToken) => new(Task.Delay(Timeout.Infinite, cancellationToken));

        public void Observe(long head)
        {
        }

        public bool TryTake(long after, List<ChangeRow> rows, int max) => false;
    }
}
