using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>
/// Generated hostile requests (<see cref="HostileRequests"/>) against a running silo. The seed is random per run
/// and printed with any failure; <c>TASKSTREAM_FUZZ_SEED=N</c> repeats a run.
/// </summary>
public sealed class FuzzTests
{
    private const int WellFormed = 10_000;
    private const int Malformed = 600;
    private const int Writes = 3_000;
    private const int Concurrency = 8;

    [Fact]
    public async Task TenThousandHostileRequestsGetNo5xxOnlyProblemJsonErrorsAndLeaveTheTasksUnchanged()
    {
        var seed = Environment.GetEnvironmentVariable("TASKSTREAM_FUZZ_SEED") is { } fixedSeed ? int.Parse(fixedSeed) : Random.Shared.Next();
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Database:SampleTasks", "20"), ("TaskStream:Streaming:EventIntervalMs", "0"));
        var tasksBefore = ReadTable(server.DatabasePath);
        using var http = new HttpClient(new SocketsHttpHandler { RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8 })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();

        await ForEachAsync(WellFormed, async i =>
        {
            var request = new HostileRequests(new Random(unchecked(seed * 7919 + i))).Next();
            var (status, failure) = await SendAsync(http, server.BaseAddress, request);
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            if (failure is not null)
            {
                failures.Enqueue($"#{i} {request}: {failure}");
            }
        });

        // Broken HTTP: Kestrel refuses it itself (400, 414, 431 with an empty body) or, where it gets through
        // (a valid UTF-8 header), the application answers; never a 5xx.
        var refusedByKestrel = 0;
        await ForEachAsync(Malformed, async i =>
        {
            var bytes = new HostileRequests(new Random(unchecked(seed * 7919 + WellFormed + i))).NextMalformed();
            var response = await RawHttp.ExchangeAsync(server.BaseAddress, bytes, TimeSpan.FromSeconds(30));
            statuses.AddOrUpdate(response.Status, 1, (_, n) => n + 1);
            var failure = response.Status switch
            {
                0 => null, // reset while the oversized request was still being sent
                >= 500 => $"{response.Status}",
                400 or 414 or 431 when response.Header("Content-Length") == "0" => null,
                >= 400 => ProblemFailure(response.Status, response.Header("Content-Type"), response.Body),
                _ => null,
            };
            if (response.Status is 400 or 414 or 431 && response.Body.Length == 0)
            {
                Interlocked.Increment(ref refusedByKestrel);
            }

            if (failure is not null)
            {
                failures.Enqueue($"malformed #{i} {Encoding.Latin1.GetString(bytes[..Math.Min(bytes.Length, 200)])}: {failure}");
            }
        });

        var tally = string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}"));
        Assert.True(failures.IsEmpty,
            $"seed {seed} (TASKSTREAM_FUZZ_SEED={seed} repeats it): {failures.Count} failures; statuses {tally}\n" +
            string.Join("\n", failures.Take(20)));
        Assert.DoesNotContain(statuses.Keys, status => status >= 500);
        Assert.True(refusedByKestrel > Malformed / 2, $"only {refusedByKestrel} malformed requests were refused by Kestrel (seed {seed})");
        Assert.Equal(tasksBefore, ReadTable(server.DatabasePath));
        await Eventually.TrueAsync(async () =>
        {
            var status = JsonDocument.Parse(await server.Http.GetStringAsync("/status")).RootElement;
            return status.GetProperty("status").GetString() == "ready" && status.GetProperty("active_streams").GetInt64() == 0;
        }, TimeSpan.FromSeconds(10), $"/status answers and no stream is left (seed {seed})");
        Console.WriteLine($"fuzz (seed {seed}): statuses {tally}; {refusedByKestrel} refused by Kestrel");
    }

    [Fact]
    public async Task ThousandsOfHostileWritesChangeTheTasksExactlyAsTheSuccessfulOnesSaid()
    {
        var seed = Environment.GetEnvironmentVariable("TASKSTREAM_FUZZ_SEED") is { } fixedSeed ? int.Parse(fixedSeed) : Random.Shared.Next();
        await using var server = await TaskStreamServer.StartAsync(
            [.. WriteHost.WithTokens, ("TaskStream:Database:SampleTasks", "20"), ("TaskStream:Streaming:EventIntervalMs", "0")]);
        var (before, seqBefore) = ReadTasks(server.DatabasePath);
        using var http = new HttpClient(new SocketsHttpHandler { RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8 })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        var changes = new ConcurrentBag<(long Seq, long Id, TaskRow? Task)>();

        await ForEachAsync(Writes, async i =>
        {
            var write = new HostileWrites(new Random(unchecked(seed * 7919 + i)), WriteHost.Token).Next();
            var (status, failure) = await SendWriteAsync(http, server.BaseAddress, write, changes);
            statuses.AddOrUpdate(status, 1, (_, n) => n + 1);
            if (failure is not null)
            {
                failures.Enqueue($"#{i} {write}: {failure}");
            }
        });

        var tally = string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}"));
        Assert.True(failures.IsEmpty,
            $"seed {seed} (TASKSTREAM_FUZZ_SEED={seed} repeats it): {failures.Count} failures; statuses {tally}\n" +
            string.Join("\n", failures.Take(20)));

        // The store is what the successful writes said, in their sequence order; nothing else was written.
        var expected = new Dictionary<long, TaskRow>(before);
        foreach (var (_, id, task) in changes.OrderBy(c => c.Seq))
        {
            if (task is null)
            {
                expected.Remove(id);
            }
            else
            {
                expected[id] = task;
            }
        }

        // Every change took the next sequence number: those the writes were told are exactly the new ones (a PATCH
        // that changed nothing takes none; it answers with the task's latest).
        var (after, seqAfter) = ReadTasks(server.DatabasePath);
        Assert.Equal(expected.OrderBy(t => t.Key), after.OrderBy(t => t.Key));
        Assert.Equal(
            Enumerable.Range(1, (int)(seqAfter - seqBefore)).Select(i => seqBefore + i),
            changes.Select(c => c.Seq).Where(s => s > seqBefore).Distinct().Order());
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/status")).StatusCode);
        Console.WriteLine($"write fuzz (seed {seed}): statuses {tally}; {changes.Count} changes");
    }

    /// <summary>Sends one write; records the change it made; returns its status and what was wrong, if anything.</summary>
    private static async Task<(int Status, string? Failure)> SendWriteAsync(
        HttpClient http, Uri server, HostileWrite write, ConcurrentBag<(long Seq, long Id, TaskRow? Task)> changes)
    {
        using var message = new HttpRequestMessage(write.Method, new Uri($"{server.Scheme}://{server.Authority}{write.Target}",
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }));
        if (write.Body is not null)
        {
            message.Content = new ByteArrayContent(write.Body);
            if (write.ContentType is not null)
            {
                message.Content.Headers.TryAddWithoutValidation("Content-Type", write.ContentType);
            }
        }

        if (write.Authorization is not null)
        {
            message.Headers.TryAddWithoutValidation("Authorization", write.Authorization);
        }

        // A body over the write limit that the server refuses unread (401, 415) cannot be drained, so Kestrel
        // closes the connection after the answer, which does not say so: a client must not reuse it.
        message.Headers.ConnectionClose = write.Body?.Length > TaskStream.Api.TaskWriteBody.MaxBytes;

        using var response = await http.SendAsync(message);
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsByteArrayAsync();
        if (status >= 400)
        {
            var absent = status == 404 && write.Method != HttpMethod.Post;
            return (status, status >= 500 ? $"{status}: {Encoding.UTF8.GetString(body)}"
                : write.Expect == WriteExpectation.Written && !absent ? $"a valid write refused: {status} {Encoding.UTF8.GetString(body)}"
                : ProblemFailure(status, response.Content.Headers.ContentType?.MediaType, body));
        }

        if (write.Expect == WriteExpectation.Refused)
        {
            return (status, $"written although it must be refused: {status} {Encoding.UTF8.GetString(body)}");
        }

        if (!response.Headers.TryGetValues("X-TaskStream-Seq", out var seqs))
        {
            return (status, "a write without X-TaskStream-Seq");
        }

        var seq = long.Parse(seqs.Single());
        if (write.Method == HttpMethod.Delete)
        {
            changes.Add((seq, long.Parse(write.Target["/tasks/".Length..]), null));
            return (status, null);
        }

        var json = JsonDocument.Parse(body).RootElement;
        var task = new TaskRow(json.GetProperty("title").GetString()!, json.GetProperty("description").GetString()!,
            json.GetProperty("completed").GetBoolean());
        var id = json.GetProperty("id").GetInt64();
        changes.Add((seq, id, task));
        var sent = write.Fields;
        var creating = write.Method == HttpMethod.Post;
        return (status, sent is null
            || ((sent.Title is null || sent.Title == task.Title)
                && (sent.Description ?? (creating ? "" : task.Description)) == task.Description
                && (sent.Completed ?? (creating ? false : task.Completed)) == task.Completed)
            ? null
            : $"the task written differs from the one sent: {Encoding.UTF8.GetString(body)}");
    }

    private static async Task ForEachAsync(int count, Func<int, Task> body)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                await body(i);
            }
        }));
    }

    /// <summary>Sends one request; returns its status and what was wrong with the answer, if anything.</summary>
    private static async Task<(int Status, string? Failure)> SendAsync(HttpClient http, Uri server, HostileRequest request)
    {
        // The target goes out exactly as generated, broken percent-encoding included.
        var uri = new Uri($"{server.Scheme}://{server.Authority}{request.Target}",
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        using var message = new HttpRequestMessage(request.Method, uri);
        foreach (var (name, value) in request.Headers)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(message);
        var status = (int)response.StatusCode;
        var body = await response.Content.ReadAsByteArrayAsync();
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (status >= 500)
        {
            return (status, $"{status}: {Encoding.UTF8.GetString(body)}");
        }

        if (status >= 400)
        {
            return (status, request.Method == HttpMethod.Head
                ? (mediaType == "application/problem+json" ? null : $"{status} as {mediaType}")
                : ProblemFailure(status, mediaType, body));
        }

        return (status, mediaType switch
        {
            "text/event-stream" => await StreamFailureAsync(body),
            "application/json" when request.Target.StartsWith("/tasks/list", StringComparison.OrdinalIgnoreCase) => ListFailure(body),
            _ => null,
        });
    }

    private static string? ProblemFailure(int status, string? contentType, byte[] body)
    {
        if (contentType?.Split(';')[0] != "application/problem+json")
        {
            return $"{status} as {contentType}: {Encoding.UTF8.GetString(body)}";
        }

        var problem = JsonDocument.Parse(body).RootElement;
        return problem.GetProperty("status").GetInt32() == status ? null : $"{status} with a problem saying {problem}";
    }

    /// <summary>A stream that was served ends with <c>end</c>, counting the tasks it sent.</summary>
    private static async Task<string?> StreamFailureAsync(byte[] body)
    {
        var events = await Sse.ParseAsync(new MemoryStream(body)).ToListAsync();
        var tasks = events.Count(e => e.Type == "task");
        return events.Count > 0 && events[^1].Type == "end" && events[^1].Json.GetProperty("count").GetInt32() == tasks
            ? null
            : $"a stream without its end: {Encoding.UTF8.GetString(body)}";
    }

    private static string? ListFailure(byte[] body)
    {
        var list = JsonDocument.Parse(body).RootElement;
        return list.GetProperty("tasks").GetArrayLength() == list.GetProperty("total").GetInt32() ? null : $"a list miscounted: {list}";
    }

    /// <summary>A row of the tasks table as the writes see it.</summary>
    private sealed record TaskRow(string Title, string Description, bool Completed);

    private static (Dictionary<long, TaskRow> Tasks, long MaxSeq) ReadTasks(string databasePath)
    {
        using var connection = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, title, description, completed FROM tasks";
        var tasks = new Dictionary<long, TaskRow>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                tasks[reader.GetInt64(0)] = new TaskRow(reader.GetString(1), reader.GetString(2), reader.GetBoolean(3));
            }
        }

        command.CommandText = "SELECT head FROM task_feed";
        return (tasks, (long)command.ExecuteScalar()!);
    }

    /// <summary>The tasks table and the schema, read from the SQLite file itself.</summary>
    internal static string ReadTable(string databasePath)
    {
        using var connection = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT (SELECT group_concat(type || ' ' || name || ' ' || coalesce(sql, ''), char(10)) FROM sqlite_master)
                || char(10) ||
                (SELECT group_concat(id || '|' || title || '|' || description || '|' || completed, char(10))
                 FROM (SELECT * FROM tasks ORDER BY id))
            """;
        return (string)command.ExecuteScalar()!;
    }
}
