using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using TaskStream.Grains;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>The page at <c>/</c>, as files over HTTP.</summary>
[Collection(nameof(FastHost))]
public sealed class PageTests(FastHost host)
{
    private HttpClient Http => host.Server.Http;

    [Theory]
    [InlineData("/", "text/html")]
    [InlineData("/page/app.js", "text/javascript")]
    [InlineData("/page/app.css", "text/css")]
    public async Task ThePageAndItsFilesAreServedByTheSiloWithNothingFetchedFromElsewhere(string path, string mediaType)
    {
        using var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.DoesNotContain("http://", body);
        Assert.DoesNotContain("https://", body);
        Assert.DoesNotContain("src=\"//", body);
    }

    [Fact]
    public async Task TheApiReferenceAndItsScriptsAreServedByTheSiloUnderAPolicyThatAllowsOnlyThisOrigin()
    {
        using var page = await Http.GetAsync("/docs/");
        var html = await page.Content.ReadAsStringAsync();
        var policy = page.Headers.GetValues("Content-Security-Policy").Single();
        var scripts = System.Text.RegularExpressions.Regex.Matches(html, "<script[^>]* src=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();

        Assert.Equal(["scalar.js", "scalar.aspnetcore.js"], scripts);
        foreach (var script in scripts)
        {
            using var response = await Http.GetAsync("/docs/" + script);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/javascript", response.Content.Headers.ContentType?.MediaType);
        }

        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);
        Assert.Contains("connect-src 'self';", policy);
        Assert.Contains("default-src 'none';", policy);
        // What the page shows is the public document, nothing else: its only source is /openapi/v1.json.
        Assert.Contains("\"sources\":[{\"title\":\"v1\",\"url\":\"openapi/v1.json\"}]", html);
        Assert.Contains("\"withDefaultFonts\":false", html);
        Assert.Contains("\"telemetry\":false", html);
    }

    [Fact]
    public async Task HeadOnThePageAnswersLikeGetWithoutABody()
    {
        var page = await Http.GetByteArrayAsync("/");

        using var response = await Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(page.Length, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task ThePageLinksItsOwnScriptAndStylesAndWritesTaskTextOnlyAsText()
    {
        var html = await Http.GetStringAsync("/");
        var script = await Http.GetStringAsync("/page/app.js");

        Assert.Contains("<script src=\"/page/app.js\" defer></script>", html);
        Assert.Contains("<link rel=\"stylesheet\" href=\"/page/app.css\">", html);
        Assert.Contains("new EventSource(", script);
        // Task data reaches the document through textContent only.
        Assert.DoesNotContain("innerHTML", script);
        Assert.DoesNotContain("insertAdjacentHTML", script);
        Assert.DoesNotContain("document.write", script);
    }

    [Fact]
    public async Task AnUnchangedPageIsRevalidatedWithItsETagAndNotSentAgain()
    {
        using var first = await Http.GetAsync("/page/app.js");
        var etag = first.Headers.ETag;
        Assert.NotNull(etag);
        Assert.Equal("no-cache", first.Headers.CacheControl?.ToString());

        using var request = new HttpRequestMessage(HttpMethod.Get, "/page/app.js");
        request.Headers.IfNoneMatch.Add(etag);
        using var second = await Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
    }
}

/// <summary>The page in Debian's headless Chromium, driven by tests/clients/page-test.mjs (playwright-core).</summary>
public sealed class PageBrowserTests
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task ABrowserShowsTheSeedTasksInOrderThenTasks2And4WhenFilteredAndInFollowModeEachChangeAsItHappens()
    {
        // A short retry: a page that did not close on `end` would be back within 200 ms.
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Streaming:EventIntervalMs", "100"), ("TaskStream:Streaming:RetryMs", "200"));
        await using var browser = NodeScript.Start("page-test.mjs", "browse", server.BaseAddress.ToString(), Screenshots("page-live"), "follow");

        var seed = await browser.NextAsync("seed", StepTimeout);
        Assert.Equal([1L, 2, 3, 4, 5], Ids(seed));
        Assert.Equal(
            ["Implement SSE streaming", "Database integration", "Add filtering", "Write documentation", "Performance testing"],
            seed.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("title").GetString()));
        Assert.Equal([false, true, false, true, false], seed.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("completed").GetBoolean()));
        Assert.Equal(6, seed.GetProperty("events").GetInt32()); // five tasks and the end
        Assert.Contains("ended (5 tasks)", Status(seed));
        Assert.Contains("last id 5", Status(seed));
        // From the end event: one silo both relayed the stream and ran its query.
        Assert.Contains($"silo {SiloOf(server)} (relay and query)", Status(seed));

        var completed = await browser.NextAsync("completed-true", StepTimeout);
        Assert.Equal([2L, 4], Ids(completed));
        Assert.Equal("/?completed=true", completed.GetProperty("url").GetString());
        Assert.Contains("ended (2 tasks)", Status(completed));

        var live = await browser.NextAsync("follow-live", StepTimeout);
        Assert.Equal([1L, 2, 3, 4, 5], Ids(live));
        Assert.Equal("/?follow=true", live.GetProperty("url").GetString());

        // Changes made elsewhere (here: through the writer grain) reach the open page. The title is markup on purpose.
        var writer = server.GetService<IGrainFactory>().GetGrain<ITaskWriterGrain>(0);
        const string title = "Made <b>elsewhere</b> & <img src=x onerror=alert(1)>";
        var created = await writer.CreateAsync(new NewTask(title, "by the test", Completed: false));
        await browser.SendAsync($"wait-row {created.Task.Id} Made <b>elsewhere</b>");
        var added = await browser.NextAsync("wait-row", StepTimeout);
        Assert.Equal([1L, 2, 3, 4, 5, created.Task.Id], Ids(added));
        Assert.Equal(title, added.GetProperty("rows")[5].GetProperty("title").GetString());
        Assert.Equal(0, added.GetProperty("markupInList").GetInt32()); // shown as text, never parsed
        Assert.Contains($"last id {created.Seq}", Status(added));

        await writer.UpdateAsync(created.Task.Id, new TaskPatch(Completed: true));
        await browser.SendAsync($"wait-completed {created.Task.Id} true");
        await browser.NextAsync("wait-completed", StepTimeout);

        await writer.DeleteAsync(1);
        await browser.SendAsync("wait-gone 1");
        var deleted = await browser.NextAsync("wait-gone", StepTimeout);
        Assert.Equal([2L, 3, 4, 5, created.Task.Id], Ids(deleted));
        Assert.Equal("live", deleted.GetProperty("state").GetString());

        await browser.SendAsync("finish");
        var done = await browser.NextAsync("done", StepTimeout);
        Assert.Empty(done.GetProperty("problems").EnumerateArray());
        Assert.True(File.Exists(Screenshots("page-live") + "-desktop.png"));

        // The two finished streams were not asked for again: a reconnect after `end` would have ended in 204.
        var metrics = await PrometheusText.ScrapeAsync(server.Http);
        Assert.Equal(2, metrics.Sum("taskstream_streams_ended_total", ("outcome", "completed")));
        Assert.Equal(0, metrics.Sum("taskstream_streams_ended_total", ("outcome", "no-content")));
    }

    [Fact]
    public async Task TasksAddedToggledAndDeletedWithThePagesFormAndButtonsArriveInItsFollowListAndAreStored()
    {
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Streaming:EventIntervalMs", "0"));
        await using var browser = NodeScript.Start("page-test.mjs", "browse", server.BaseAddress.ToString(), Screenshots("page-form"), "follow");
        await browser.NextAsync("seed", StepTimeout);
        await browser.NextAsync("completed-true", StepTimeout);
        await browser.NextAsync("follow-live", StepTimeout);

        const string title = "Typed into the <i>page</i>";
        await browser.SendAsync($"add {title}");
        var added = await browser.NextAsync("add", StepTimeout);
        var row = added.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("title").GetString() == title);
        var id = row.GetProperty("id").GetInt64();
        Assert.Equal([1L, 2, 3, 4, 5, id], Ids(added));
        Assert.False(row.GetProperty("completed").GetBoolean());
        Assert.Equal(0, added.GetProperty("markupInList").GetInt32());

        await browser.SendAsync($"toggle {id}");
        var toggled = await browser.NextAsync("toggle", StepTimeout);
        Assert.True(toggled.GetProperty("rows").EnumerateArray().Single(r => r.GetProperty("id").GetInt64() == id).GetProperty("completed").GetBoolean());

        await browser.SendAsync("delete 3");
        var deleted = await browser.NextAsync("delete", StepTimeout);
        Assert.Equal([1L, 2, 4, 5, id], Ids(deleted));

        // A bad write: the server's 400 problem reaches the person, naming the field.
        await browser.SendAsync("add-empty");
        var rejected = await browser.NextAsync("add-empty", StepTimeout);
        Assert.Contains("title", rejected.GetProperty("message").GetString());
        Assert.Equal([1L, 2, 4, 5, id], Ids(rejected));

        await browser.SendAsync("finish");
        Assert.Empty((await browser.NextAsync("done", StepTimeout)).GetProperty("problems").EnumerateArray());

        // What the page showed is what the store holds.
        var list = JsonDocument.Parse(await server.Http.GetStringAsync("/tasks/list")).RootElement.GetProperty("tasks");
        Assert.Equal([1L, 2, 4, 5, id], list.EnumerateArray().Select(t => t.GetProperty("id").GetInt64()));
        Assert.Equal(title, list[4].GetProperty("title").GetString());
        Assert.True(list[4].GetProperty("completed").GetBoolean());
    }

    [Fact]
    public async Task ABrowserShowsReconnectingWhileTheServerIsDownAndResumesAfterTheLastTaskItHadWhenItReturns()
    {
        // The same port and database for both hosts, as a restarted server would have; a short retry.
        var directory = TaskStreamServer.NewDirectory();
        (string, string)[] settings =
        [
            ("urls", $"http://127.0.0.1:{TaskStreamServer.FreeTcpPort()}"),
            ("TaskStream:Streaming:EventIntervalMs", "1000"),
            ("TaskStream:Streaming:RetryMs", "500"),
        ];
        var first = await TaskStreamServer.StartAsync(directory, configure: null, settings);
        var firstStopped = false;
        TaskStreamServer? second = null;
        try
        {
            await using var browser = NodeScript.Start("page-test.mjs", "restart", first.BaseAddress.ToString(), Screenshots("page-restart"));

            var before = await browser.NextAsync("stop-server", StepTimeout);
            var seenBefore = Ids(before).ToList();
            Assert.NotEmpty(seenBefore);
            Assert.True(seenBefore.Count < 5, $"the stream ended before the server could be stopped: {before}");
            await first.DisposeAsync(keepDatabase: true);
            firstStopped = true;
            await browser.SendAsync("stopped");

            // At least one retry counted; the browser retries every 500 ms while the server is down, so a slow step
            // here (a loaded machine) may have counted a second.
            var down = await browser.NextAsync("reconnecting", StepTimeout);
            var retries = System.Text.RegularExpressions.Regex.Match(Status(down), @"(\d+) reconnects?\b");
            Assert.True(retries.Success && int.Parse(retries.Groups[1].Value) >= 1, $"the page counts its reconnects: {Status(down)}");
            second = await TaskStreamServer.StartAsync(directory, configure: null, settings);
            await browser.SendAsync("restarted");

            var resumed = await browser.NextAsync("resumed", StepTimeout);
            Assert.Equal([1L, 2, 3, 4, 5], Ids(resumed));
            // Resumed, not replayed: every task arrived once (the browser sent Last-Event-ID), then the end.
            Assert.Equal(6, resumed.GetProperty("events").GetInt32());
            var states = resumed.GetProperty("states").EnumerateArray().Select(s => s.GetString()).ToList();
            var reconnecting = states.IndexOf("reconnecting");
            Assert.True(reconnecting > 0 && states.IndexOf("connected", reconnecting) > reconnecting && states[^1] == "ended",
                $"states seen: {string.Join(" → ", states)}");
            Assert.Contains("ended (5 tasks)", Status(resumed));
            Assert.Contains(SiloOf(second), Status(resumed));
            Assert.Empty((await browser.NextAsync("done", StepTimeout)).GetProperty("problems").EnumerateArray());
        }
        finally
        {
            if (!firstStopped)
            {
                await first.DisposeAsync();
            }

            if (second is not null)
            {
                await second.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task TheApiReferenceLinkedFromThePageRendersEveryRouteOfTheDocumentWithNothingFetchedFromAnotherHost()
    {
        await using var server = await TaskStreamServer.StartAsync();
        var document = JsonDocument.Parse(await server.Http.GetStringAsync("/openapi/v1.json")).RootElement;
        await using var browser = NodeScript.Start("docs-test.mjs", server.BaseAddress.ToString(), Screenshots("docs") + ".png");

        var rendered = await browser.NextAsync("rendered", StepTimeout);

        Assert.Equal("/docs/", rendered.GetProperty("url").GetString());
        Assert.Equal("TaskStream API", rendered.GetProperty("title").GetString());
        var text = rendered.GetProperty("text").GetString()!;
        var routes = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/tasks/stream", routes);
        Assert.All(routes, route => Assert.Contains(route, text));
        Assert.Contains("Create a task", text);
        Assert.Empty(rendered.GetProperty("offLoopback").EnumerateArray());
        Assert.Empty(rendered.GetProperty("problems").EnumerateArray());
        // Its policy refused no request (a blocked fetch or font would name its URL); Scalar's probe for eval may be refused.
        Assert.DoesNotContain(rendered.GetProperty("violations").EnumerateArray(), v => v.GetString()!.Contains("http", StringComparison.Ordinal));
    }

    private static string Screenshots(string name) => Path.Combine(NodeScript.ArtifactsDirectory, name);

    private static IEnumerable<long> Ids(JsonElement report) =>
        report.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("id").GetInt64());

    private static string Status(JsonElement report) => report.GetProperty("status").GetString()!;

    private static string SiloOf(TaskStreamServer server) =>
        server.GetService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress.ToString();
}
