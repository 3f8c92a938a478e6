using System.Net;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>/metrics scraped over HTTP while streams run, on a host of its own so the counts are this test's.</summary>
public sealed class MetricsTests(MetricsHost host) : IClassFixture<MetricsHost>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private HttpClient Http => host.Server.Http;

    [Fact]
    public async Task AScrapeWhileAStreamRunsShowsItStartedAndActiveAndALaterOneShowsHowItEnded()
    {
        var before = await PrometheusText.ScrapeAsync(Http);

        using (var response = await Http.SendAsync(Sse.Get("/tasks/stream"), HttpCompletionOption.ResponseHeadersRead))
        {
            var events = Sse.ParseAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator();
            Assert.True(await events.MoveNextAsync());

            await ScrapeUntil(during =>
                during.Sum("taskstream_streams_started_total") == before.Sum("taskstream_streams_started_total") + 1
                && during.Sum("taskstream_streams_active") == 1, "the running stream counted as started and active");

            var rest = 1;
            while (await events.MoveNextAsync())
            {
                rest++;
            }

            Assert.Equal(6, rest); // five tasks and the end
        }

        var after = await ScrapeUntil(after =>
            after.Sum("taskstream_streams_ended_total", ("outcome", "completed")) == before.Sum("taskstream_streams_ended_total", ("outcome", "completed")) + 1,
            "the stream counted as completed");
        Assert.Equal(before.Sum("taskstream_events_sent_total") + 5, after.Sum("taskstream_events_sent_total"));
        Assert.Equal(before.Sum("taskstream_query_duration_seconds_count", ("outcome", "completed")) + 1,
            after.Sum("taskstream_query_duration_seconds_count", ("outcome", "completed")));
        // Five tasks 400 ms apart: at least 1.6 s, recorded in seconds. Timers count whole milliseconds, so each
        // pause may end up to a millisecond before the stopwatch says 400 ms have passed.
        var duration = after.Sum("taskstream_query_duration_seconds_sum", ("outcome", "completed"))
            - before.Sum("taskstream_query_duration_seconds_sum", ("outcome", "completed"));
        Assert.InRange(duration, 1.596, 30);
        Assert.Equal(0, after.Sum("taskstream_streams_active"));
    }

    [Fact]
    public async Task AStreamTheClientDropsIsCountedAsCancelled()
    {
        var before = await PrometheusText.ScrapeAsync(Http);

        using (var response = await Http.SendAsync(Sse.Get("/tasks/stream?completed=false"), HttpCompletionOption.ResponseHeadersRead))
        {
            var events = Sse.ParseAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator();
            Assert.True(await events.MoveNextAsync());
        }

        var after = await ScrapeUntil(after =>
            after.Sum("taskstream_streams_ended_total", ("outcome", "cancelled")) == before.Sum("taskstream_streams_ended_total", ("outcome", "cancelled")) + 1,
            "the dropped stream counted as cancelled");
        Assert.InRange(after.Sum("taskstream_events_sent_total") - before.Sum("taskstream_events_sent_total"), 1, 2);
    }

    [Fact]
    public async Task AFollowStreamsEventsAreCountedWhileItIsStillOpen()
    {
        var before = await PrometheusText.ScrapeAsync(Http);

        using var response = await Http.SendAsync(Sse.Get("/tasks/stream?follow=true"), HttpCompletionOption.ResponseHeadersRead);
        var events = Sse.ParseAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator();
        do
        {
            Assert.True(await events.MoveNextAsync());
        }
        while (events.Current.Type != "live");

        await ScrapeUntil(during =>
            during.Sum("taskstream_events_sent_total") == before.Sum("taskstream_events_sent_total") + 5
            && during.Sum("taskstream_streams_active") == 1, "the open follow stream's five snapshot events counted");
    }

    [Fact]
    public async Task TheScrapeCarriesOrleansAspNetCoreAndRuntimeMetersBesideTaskStreams()
    {
        using (await Http.GetAsync("/status"))
        {
        }

        var samples = await ScrapeUntil(
            s => s.Any(x => x.Name == "http_server_request_duration_seconds_count" && x.Labels.GetValueOrDefault("http_route") == "/status"),
            "the request to /status was measured");

        Assert.Contains(samples, s => s.Name.StartsWith("orleans_", StringComparison.Ordinal));
        Assert.Contains(samples, s => s.Name.StartsWith("kestrel_", StringComparison.Ordinal));
        Assert.Contains(samples, s => s.Name == "taskstream_grains_query_active");
        Assert.Contains(samples, s => s.Name == "taskstream_db_connections_open");
        Assert.Contains(samples, s => s.Name == "dotnet_gc_heap_total_allocated_bytes_total");
        Assert.Contains(samples, s => s.Name == "dotnet_gc_collections_total" && s.Labels.GetValueOrDefault("gc_heap_generation") == "gen0");
    }

    [Fact]
    public async Task MetricsAreServedAsPrometheusText()
    {
        using var response = await Http.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("# TYPE taskstream_streams_active gauge", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task WithMetricsDisabledThereIsNoMetricsEndpointAndStatusStillCounts()
    {
        await using var server = await TaskStreamServer.StartAsync(("TaskStream:Metrics:Enabled", "false"));

        using var metrics = await server.Http.GetAsync("/metrics");
        var streamed = await Sse.ReadAllAsync(server.Http, "/tasks/stream?limit=1");

        Assert.Equal(HttpStatusCode.NotFound, metrics.StatusCode);
        Assert.Single(streamed.TaskIds);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/status")).StatusCode);
    }

    private async Task<IReadOnlyList<PrometheusSample>> ScrapeUntil(Func<IReadOnlyList<PrometheusSample>, bool> condition, string because)
    {
        IReadOnlyList<PrometheusSample> samples = [];
        await Eventually.TrueAsync(async () => condition(samples = await PrometheusText.ScrapeAsync(Http)), Wait, because);
        return samples;
    }
}
