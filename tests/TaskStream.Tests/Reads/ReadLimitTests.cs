using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Collections.Concurrent;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>Reads are bounded per silo, readiness stays cheap, and a list client that stops reading is dropped.</summary>
[Collection(nameof(WholeProcessCollection))]
public sealed class ReadLimitTests
{
    [Fact]
    public async Task ReadsOfOneTaskPastTheSilosReadPermitsGetRetryable503sAndTheRestTheirTask()
    {
        // One permit and no queue. Reads of one task are too quick to meet each other reliably, so large list reads
        // run beside them: while one holds the permit, a read of one task is refused at once; between them, it is served.
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Limits:MaxConcurrentReads", "1"), ("TaskStream:Limits:ReadQueueLength", "0"),
            ("TaskStream:Database:SampleTasks", "50000"), ("TaskStream:List:MaxTasks", "50000"));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var lists = Task.Run(async () =>
        {
            while (true) // until the token, which ends it with OperationCanceledException
            {
                using var list = await server.Http.GetAsync("/tasks/list?limit=50000", stop.Token);
                await list.Content.ReadAsByteArrayAsync(stop.Token);
            }
        });

        var responses = new List<(HttpStatusCode StatusCode, TimeSpan? RetryAfter, string? MediaType)>();
        while (!(responses.Any(r => r.StatusCode == HttpStatusCode.OK) && responses.Any(r => r.StatusCode == HttpStatusCode.ServiceUnavailable)))
        {
            Assert.False(stop.IsCancellationRequested, $"no 200 and 503 both in 60 s: {responses.Count} reads");
            responses.AddRange(await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
            {
                using var response = await server.Http.GetAsync("/tasks/1", stop.Token);
                return (response.StatusCode, response.Headers.RetryAfter?.Delta, response.Content.Headers.ContentType?.MediaType);
            })));
        }

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lists);
        Assert.All(responses, r => Assert.True(
            r.StatusCode == HttpStatusCode.OK
            || (r.StatusCode == HttpStatusCode.ServiceUnavailable && r.RetryAfter == TimeSpan.FromSeconds(5) && r.MediaType == "application/problem+json"),
            r.ToString()));
    }

    [Fact]
    public async Task AFloodOfListReadsOnPostgresGetsAnswersOrRetryable503sAndReadyStays200()
    {
        await using var postgres = await TestPostgres.CreateAsync();
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Database:Provider", "postgres"), ("TaskStream:Database:ConnectionString", postgres.ConnectionString),
            ("TaskStream:Database:SampleTasks", "3000"));
        using var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 })
        {
            BaseAddress = server.BaseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };

        var statuses = new ConcurrentDictionary<HttpStatusCode, int>();
        var refusalsWithoutRetryAfter = 0;
        var ready = new ConcurrentBag<HttpStatusCode>();
        var flood = Stopwatch.StartNew();
        var readers = Enumerable.Range(0, 300).Select(async _ =>
        {
            while (flood.Elapsed < TimeSpan.FromSeconds(8))
            {
                using var response = await http.GetAsync("/tasks/list");
                await response.Content.ReadAsByteArrayAsync();
                statuses.AddOrUpdate(response.StatusCode, 1, (_, n) => n + 1);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable
                    && (response.Headers.RetryAfter is null || response.Content.Headers.ContentType?.MediaType != "application/problem+json"))
                {
                    Interlocked.Increment(ref refusalsWithoutRetryAfter);
                }
            }
        }).ToList();
        var probe = Task.Run(async () =>
        {
            while (flood.Elapsed < TimeSpan.FromSeconds(8))
            {
                using var response = await http.GetAsync("/health/ready");
                ready.Add(response.StatusCode);
                await Task.Delay(100);
            }
        });
        await Task.WhenAll([.. readers, probe]);

        var summary = string.Join(", ", statuses.Select(s => $"{(int)s.Key}: {s.Value}"));
        Console.WriteLine($"list flood: {summary}; ready: {ready.Count(s => s == HttpStatusCode.OK)} of {ready.Count} were 200");
        Assert.True(statuses.Keys.All(s => s is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable), summary);
        Assert.True(statuses.GetValueOrDefault(HttpStatusCode.OK) > 0, summary);
        Assert.Equal(0, refusalsWithoutRetryAfter);
        Assert.All(ready, status => Assert.Equal(HttpStatusCode.OK, status));
    }

    [Fact]
    public async Task AListClientThatStopsReadingIsDisconnectedAfterTheSendTimeout()
    {
        await using var server = await TaskStreamServer.StartAsync(
            ("TaskStream:Limits:SendTimeoutSeconds", "2"), ("TaskStream:Limits:WriteBurst", "1000"));
        // Wide tasks: one text element, an e with 7,000 combining accents (14 KB), so the list is 7 MB, more than the
        // server's socket buffer (4 MB at most here) and the client's hold.
        var wide = "e" + new string('\u0301', 7000);
        for (var i = 0; i < 500; i++)
        {
            using var created = await server.Http.PostAsync("/tasks", new StringContent(
                $$"""{"title":"Wide {{i}}","description":"{{wide}}"}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await client.ConnectAsync(server.BaseAddress.Host, server.BaseAddress.Port);
        await client.SendAsync(Encoding.ASCII.GetBytes($"GET /tasks/list HTTP/1.1\r\nHost: {server.BaseAddress.Authority}\r\nConnection: close\r\n\r\n"));
        await Task.Delay(TimeSpan.FromSeconds(5)); // reads nothing for more than the send timeout

        // Then reads what there is: a dropped client gets the connection's end before the answer's.
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            int read;
            while ((read = await client.ReceiveAsync(buffer, SocketFlags.None, giveUp.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionReset)
        {
            // the server aborted the connection
        }

        var text = Encoding.ASCII.GetString(received.ToArray());
        Assert.StartsWith("HTTP/1.1 200", text);
        Assert.False(text.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal),
            $"the whole {received.Length:N0}-byte answer arrived: the client was not disconnected");
    }
}
