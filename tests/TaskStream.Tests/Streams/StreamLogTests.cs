using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>What the host logs about streams, read through a logger provider added to the real host.</summary>
public sealed class StreamLogTests
{
    [Fact]
    public async Task EachStreamLogsExactlyOneStructuredLineWithFilterSiloEventsOutcomeAndDurationAndNothingPerEvent()
    {
        var logs = new CapturingLoggerProvider();
        await using var server = await TaskStreamServer.StartAsync(TaskStreamServer.NewDirectory(),
            builder => builder.Logging.AddProvider(logs),
            ("TaskStream:Streaming:EventIntervalMs", "200"), ("Logging:LogLevel:TaskStream", "Trace"));
        var silo = server.GetService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress.ToString();
        var startedAt = logs.Entries.Count;

        var all = await Sse.ReadAllAsync(server.Http, "/tasks/stream");
        var completed = await Sse.ReadAllAsync(server.Http, "/tasks/stream?completed=true&limit=1");
        using (var response = await server.Http.SendAsync(Sse.Get("/tasks/stream?completed=false"), HttpCompletionOption.ResponseHeadersRead))
        {
            // Dropped after the headers, while the relay waits out the pacing: the stream ends cancelled.
        }

        Assert.Equal(5, all.TaskIds.Count());
        Assert.Single(completed.TaskIds);
        await Eventually.TrueAsync(() => Task.FromResult(logs.Entries.Skip(startedAt).Count(e => e.EventName == "StreamEnded") == 3),
            TimeSpan.FromSeconds(20), "the dropped stream's line is logged");

        // Every TaskStream line these streams caused is a StreamEnded line: one per stream, none per event.
        var lines = logs.Entries.Skip(startedAt).Where(e => e.Category.StartsWith("TaskStream", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, lines.Count);
        Assert.All(lines, line =>
        {
            Assert.Equal("StreamEnded", line.EventName);
            Assert.Equal(LogLevel.Information, line.Level);
            Assert.Equal(silo, line.State["Silo"]);
            Assert.False(Assert.IsType<bool>(line.State["Follow"]));
            Assert.IsType<double>(line.State["DurationMs"]);
            Assert.Contains($"relayed by {silo}", line.Message);
        });
        // A line is written once the grain confirmed its cleanup, which may be after the client moved on: match by content.
        Assert.Equal(
            [("cancelled", false, null), ("completed", null, null), ("completed", true, 1)],
            lines.Select(l => ((string)l.State["Outcome"]!, (bool?)l.State["Completed"], (int?)l.State["Limit"])).Order());
        Assert.Equal(5L, lines.Single(l => l.State["Outcome"] is "completed" && l.State["Completed"] is null).State["Events"]);
        Assert.Equal(1L, lines.Single(l => l.State["Limit"] is 1).State["Events"]);
    }

    public sealed record LogEntry(string Category, LogLevel Level, string? EventName, string Message, IReadOnlyDictionary<string, object?> State);

    /// <summary>Keeps every log entry the host writes, with its structured values.</summary>
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<LogEntry> _entries = new();

        public IReadOnlyList<LogEntry> Entries => [.. _entries];

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var values = state as IEnumerable<KeyValuePair<string, object?>> ?? [];
                provider._entries.Enqueue(new LogEntry(category, logLevel, eventId.Name, formatter(state, exception),
                    values.ToDictionary(v => v.Key, v => v.Value)));
            }
        }
    }
}
