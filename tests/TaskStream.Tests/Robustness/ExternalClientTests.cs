using System.Text;
using System.Text.Json;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Clients nobody here wrote: curl, and npm `eventsource` (a WHATWG EventSource, like a browser's).</summary>
public sealed class ExternalClientTests(ExternalClientHost host) : IClassFixture<ExternalClientHost>
{
    [Fact]
    public async Task CurlReceivesEveryTaskAndTheEndAndExitsWhenTheServerCloses()
    {
        var url = new Uri(host.Server.BaseAddress, "/tasks/stream?completed=false").ToString();
        var (exitCode, output, errors, took) = await Repository.RunAsync("curl", ["-sSN", "--max-time", "20", url], TimeSpan.FromSeconds(30));

        Assert.True(exitCode == 0, errors);
        Assert.True(took < TimeSpan.FromSeconds(10), $"curl ran for {took}");
        var events = await Sse.ParseAsync(new MemoryStream(Encoding.UTF8.GetBytes(output))).ToListAsync();
        Assert.Equal(["task", "task", "task", "end"], events.Select(e => e.Type));
        Assert.Equal(["1", "3", "5"], events.Where(e => e.Type == "task").Select(e => e.Id));
        Assert.Equal(3, events[^1].Json.GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task EventSourceReceivesEachTaskOnceAndStopsAfterTheEndInsteadOfReplaying()
    {
        var script = Repository.PathTo("tests/clients/eventsource-client.mjs");
        Assert.True(Directory.Exists(Repository.PathTo("tests/clients/node_modules/eventsource")),
            "npm packages missing: run the README's test command (scripts/test.sh), which runs `npm ci` in tests/clients");
        var url = new Uri(host.Server.BaseAddress, "/tasks/stream").ToString();

        var (exitCode, output, errors, _) = await Repository.RunAsync("node", [script, url], TimeSpan.FromSeconds(30));

        Assert.True(exitCode == 0, output + errors);
        var report = JsonDocument.Parse(output).RootElement;
        var events = report.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(["1", "2", "3", "4", "5"],
            events.Where(e => e.GetProperty("type").GetString() == "task").Select(e => e.GetProperty("id").GetString()));
        Assert.Single(events, e => e.GetProperty("type").GetString() == "end");
        // It reconnected once after `end` with Last-Event-ID 5, got 204, and closed for good.
        Assert.True(report.GetProperty("closed").GetBoolean());
        Assert.Equal(1, report.GetProperty("opens").GetInt32());
    }
}
