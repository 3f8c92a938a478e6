using System.Collections.Concurrent;
using System.Data;
using System.Diagnostics;
using System.Globalization;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json.Serialization;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration.Memory;

namespace TaskStream.Bench;

/// <summary>
/// The yardstick: the same task stream served by bare Kestrel, Dapper and one SQLite connection per request,
/// no Orleans. It writes the same SSE bytes as the silo (task events with id, retry on the first, an end
/// event), reads the same table with the same keyset pages, and exposes the same /status counts and
/// per-stream log fields, so one client and one set of scenarios drive both targets.
/// Run as its own process: <c>Bench baseline-server --db PATH --urls URL [--interval-ms N]</c>. Its live feed
/// (follow streams and <c>POST /tasks</c>) is in BaselineServer.Follow.cs.
/// </summary>
public static partial class BaselineServer
{
    public const string LogCategory = "TaskStream.Bench.BaselineServer";

    // The silo's defaults (appsettings.json): retry 3000 ms, keyset pages of 512 rows.
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(3000);
    private const int PageSize = 512;
    private const string Select = "SELECT id AS Id, title AS Title, description AS Description, completed AS Completed FROM tasks";
    private const string PageSql = Select + " WHERE id > @After ORDER BY id LIMIT @Take";
    private const string FilteredPageSql = Select + " WHERE completed = @Completed AND id > @After ORDER BY id LIMIT @Take";

    private static long _activeStreams;
    private static long _openConnections;

    // Streams ended by outcome, exported at /metrics under the silo's metric name, counted where the silo counts them.
    private static readonly ConcurrentDictionary<string, long> Ended = new();

    public static async Task<int> RunAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        // Lowest-priority defaults, as the silo's appsettings.json has them: no per-request hosting logs.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning" },
        });
        var database = builder.Configuration["db"] ?? throw new ArgumentException("baseline-server needs --db PATH");
        var interval = TimeSpan.FromMilliseconds(builder.Configuration.GetValue("interval-ms", 0));
        var connectionString = new SqliteConnectionStringBuilder { DataSource = database, Pooling = true }.ToString();
        // The silo's listen backlog (its default is 4096), so a burst of connects meets the same queue.
        builder.Services.Configure<Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets.SocketTransportOptions>(sockets => sockets.Backlog = 4096);
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, BaselineJsonContext.Default));

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(LogCategory);
        app.MapGet("/tasks/stream", (HttpContext http) =>
        {
            if (!TryParseQuery(http.Request, out var query))
            {
                return Results.BadRequest();
            }

            if (query.Follow && query != new Query(null, long.MaxValue, 0, true))
            {
                return Results.BadRequest(); // its live feed is the unfiltered one the bench follows, nothing more
            }

            // RequestAborted passed explicitly, so a disconnect cancels the pacing delay at once.
            return query.Follow
                ? TypedResults.ServerSentEvents(FollowAsync(connectionString, http.RequestAborted))
                : TypedResults.ServerSentEvents(StreamAsync(connectionString, query, interval, log, http.RequestAborted));
        });
        app.MapPost("/tasks", (NewTaskBody body, HttpContext http) => CreateAsync(connectionString, body, http));
        app.MapGet("/status", () => TypedResults.Ok(new BaselineStatus("ready", "sqlite", "enabled", "baseline",
            Interlocked.Read(ref _activeStreams), Interlocked.Read(ref _openConnections))));
        app.MapGet("/metrics", () => TypedResults.Text(
            string.Concat(Ended.Select(e => $"{ServerProcess.StreamsEndedMetric}{{outcome=\"{e.Key}\"}} {e.Value}\n")), "text/plain; version=0.0.4"));
        await app.RunAsync();
        return 0;
    }

    private static async IAsyncEnumerable<SseItem<object>> StreamAsync(
        string connectionString, Query query, TimeSpan interval, ILogger log,
        [EnumeratorCancellation] CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        long disconnectSeen = 0;
        long endedAt = 0;
        long releasedAt = 0;
        long count = 0;
        var finished = false;
        // True while the consumer (the SSE writer) holds an event: if the enumeration is disposed then, the
        // writer stopped because the write failed, i.e. the client left, even before Kestrel fired RequestAborted.
        var yielded = false;
        Interlocked.Increment(ref _activeStreams);
        using var onAbort = token.Register(() => Interlocked.CompareExchange(ref disconnectSeen, Stopwatch.GetTimestamp(), 0));
        try
        {
            var connection = new SqliteConnection(connectionString);
            connection.StateChange += OnConnectionStateChange;
            try
            {
                await connection.OpenAsync(token);
                var after = query.After;
                var remaining = query.Limit;
                var sql = query.Completed is null ? PageSql : FilteredPageSql;
                while (remaining > 0)
                {
                    var take = (int)Math.Min(PageSize, remaining);
                    var page = await connection.QueryAsync<TaskRow>(new CommandDefinition(
                        sql, new { After = after, Take = take, query.Completed }, cancellationToken: token));
                    var read = 0;
                    foreach (var row in page)
                    {
                        if (count > 0 && interval > TimeSpan.Zero)
                        {
                            await Task.Delay(interval, token);
                        }

                        read++;
                        after = row.Id;
                        yielded = true;
                        yield return new SseItem<object>(row, "task")
                        {
                            EventId = row.Id.ToString(CultureInfo.InvariantCulture),
                            ReconnectionInterval = count == 0 ? Retry : null,
                        };
                        yielded = false;
                        count++;
                    }

                    remaining -= read;
                    if (read < take)
                    {
                        break;
                    }
                }
            }
            finally
            {
                endedAt = Stopwatch.GetTimestamp();
                await connection.DisposeAsync();
                releasedAt = Stopwatch.GetTimestamp();
            }

            // No id on the end event, as the silo does.
            yield return new SseItem<object>(new StreamEnd(count), "end");
            finished = true;
        }
        finally
        {
            var aborted = Interlocked.Read(ref disconnectSeen);
            // As on the silo: for a disconnect, from the moment it was seen; otherwise from the stream's end.
            var from = aborted != 0 ? aborted : endedAt;
            var outcome = finished ? "completed" : aborted != 0 || yielded ? "cancelled" : "failed";
            Ended.AddOrUpdate(outcome, 1, (_, n) => n + 1);
            Interlocked.Decrement(ref _activeStreams);
            LogStream(log, outcome, count,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                releasedAt == 0 || from == 0 ? -1 : Math.Max(0, Stopwatch.GetElapsedTime(from, releasedAt).TotalMilliseconds));
        }
    }

    private static void OnConnectionStateChange(object? sender, StateChangeEventArgs e)
    {
        if (e.CurrentState == ConnectionState.Open && e.OriginalState != ConnectionState.Open)
        {
            Interlocked.Increment(ref _openConnections);
        }
        else if (e.OriginalState == ConnectionState.Open && e.CurrentState != ConnectionState.Open)
        {
            Interlocked.Decrement(ref _openConnections);
        }
    }

    private static bool TryParseQuery(HttpRequest request, out Query query)
    {
        query = new Query(null, long.MaxValue, 0, false);
        var q = request.Query;
        var follow = false;
        if (q.TryGetValue("follow", out var f) && !bool.TryParse(f, out follow))
        {
            return false;
        }

        bool? completed = null;
        if (q.TryGetValue("completed", out var c))
        {
            if (!bool.TryParse(c, out var value))
            {
                return false;
            }

            completed = value;
        }

        var limit = long.MaxValue;
        if (q.TryGetValue("limit", out var l) && (!long.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1))
        {
            return false;
        }

        long after = 0;
        if (q.TryGetValue("after", out var a) && !long.TryParse(a, NumberStyles.None, CultureInfo.InvariantCulture, out after))
        {
            return false;
        }

        query = new Query(completed, limit, after, follow);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Stream {Outcome}: {Events} events in {DurationMs} ms, connection released {ReleaseMs} ms after the end")]
    private static partial void LogStream(ILogger logger, string outcome, long events, double durationMs, double releaseMs);

    private sealed record Query(bool? Completed, long Limit, long After, bool Follow);

    // Settable properties: SQLite returns INTEGER as Int64 and Dapper cannot map it into a record's constructor.
    internal sealed class TaskRow
    {
        public long Id { get; set; }

        public string Title { get; set; } = "";

        public string Description { get; set; } = "";

        public bool Completed { get; set; }
    }

    internal sealed record StreamEnd(long Count);

    internal sealed record BaselineStatus(
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("database")] string Database,
        [property: JsonPropertyName("streaming")] string Streaming,
        [property: JsonPropertyName("silo")] string Silo,
        [property: JsonPropertyName("active_streams")] long ActiveStreams,
        [property: JsonPropertyName("open_connections")] long OpenConnections);
}

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(object))]
[JsonSerializable(typeof(BaselineServer.TaskRow))]
[JsonSerializable(typeof(BaselineServer.StreamEnd))]
[JsonSerializable(typeof(BaselineServer.BaselineStatus))]
[JsonSerializable(typeof(BaselineServer.NewTaskBody))]
[JsonSerializable(typeof(BaselineServer.FollowLive))]
internal sealed partial class BaselineJsonContext : JsonSerializerContext;
