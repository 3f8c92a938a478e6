using System.Text.Json;
using System.Text.RegularExpressions;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>What a new user meets first: the README, the configuration table, the database a silo uses, the documented events.</summary>
public sealed partial class FirstMinutesTests
{
    [Fact]
    public void TheReadmeNamesItsPrerequisitesBeforeTheTwoCommands()
    {
        var readme = File.ReadAllText(Repository.PathTo("README.md"));
        var needs = readme.IndexOf("**You need**", StringComparison.Ordinal);
        var commands = readme.IndexOf("dotnet run --project src/Silo", StringComparison.Ordinal);

        Assert.InRange(needs, 0, commands);
        var prerequisites = readme[needs..commands];
        Assert.Contains(".NET 10 SDK", prerequisites);
        Assert.Contains("root", prerequisites);
        Assert.Contains("curl 7.82", prerequisites);
    }

    [Fact]
    public void TheConfigurationTableIsOneTableOfThreeColumns()
    {
        var lines = File.ReadAllLines(Repository.PathTo("docs/configuration.md"));
        var rows = lines.Select((line, index) => (line, index)).Where(l => l.line.StartsWith('|')).ToList();

        Assert.True(rows.Count > 20, $"{rows.Count} table rows");
        // One block: no line between the first row and the last that would end the table.
        Assert.Equal(rows[^1].index - rows[0].index + 1, rows.Count);
        // A row with an unescaped | inside a cell would render with a fourth column.
        Assert.All(rows, row => Assert.True(CellBorder().Matches(row.line).Count == 4, $"line {row.index + 1} has other than 3 cells: {row.line}"));
    }

    [Fact]
    public async Task TheEndEventCarriesTheDataTheHttpApiPageDocuments()
    {
        var page = File.ReadAllText(Repository.PathTo("docs/http-api.md"));
        var documented = EndEventData().Match(page);
        Assert.True(documented.Success, "docs/http-api.md no longer documents the end event's data");
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Streaming:EventIntervalMs", "0"));

        var stream = await Sse.ReadAllAsync(server.Http, "/tasks/stream?limit=2");

        var end = stream.Events[^1];
        Assert.Equal("end", end.Type);
        Assert.Null(end.Id);
        var documentedFields = Regex.Matches(documented.Groups[1].Value, "\"(\\w+)\":").Select(m => m.Groups[1].Value);
        Assert.Equal(documentedFields.Order(), end.Json.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal(2, end.Json.GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task ASiloPrintsTheFullPathOfItsDatabaseAtStart()
    {
        // No database setting: the default, tasks.db in the working directory.
        var directory = TaskStreamServer.NewDirectory();
        await using var silo = await SiloProcess.StartAsync(directory, ("Logging:LogLevel:TaskStream.Silo", "Information"));

        await Eventually.TrueAsync(() => Task.FromResult(silo.Output.Contains("Database: SQLite file")), TimeSpan.FromSeconds(10), "the database line");
        Assert.Contains($"Database: SQLite file {Path.Combine(directory, "tasks.db")}", silo.Output);
        Assert.True(File.Exists(Path.Combine(directory, "tasks.db")));
        Assert.Equal(JsonValueKind.Object, (await silo.StatusAsync())?.ValueKind);
    }

    [GeneratedRegex(@"(?<!\\)\|")]
    private static partial Regex CellBorder();

    [GeneratedRegex(@"`event: end`, `data: (\{[^`]*\})`")]
    private static partial Regex EndEventData();
}
