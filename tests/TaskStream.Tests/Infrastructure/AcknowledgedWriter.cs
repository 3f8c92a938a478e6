using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Writes as a careful client does, through one address: one write at a time (creates, updates and deletes of its
/// own tasks), each with an Idempotency-Key kept across its retries until an answer comes (a 5xx, 429, a timeout or
/// a dropped connection is retried). Keeps what was acknowledged: the tasks as last answered, and each change number.
/// </summary>
public sealed class AcknowledgedWriter(HttpClient http, Uri api, string token)
{
    private static readonly TimeSpan Attempt = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan GiveUp = TimeSpan.FromSeconds(90);
    private readonly Dictionary<long, (string Title, bool Completed)> _tasks = [];
    private readonly Random _random = new(1313);

    /// <summary>The writer's tasks as the last acknowledged write left them (deleted ones gone).</summary>
    public IReadOnlyDictionary<long, (string Title, bool Completed)> Tasks => _tasks;

    /// <summary>X-TaskStream-Seq of each acknowledged write, in the order they were acknowledged.</summary>
    public List<long> Seqs { get; } = [];

    public int Retries { get; private set; }

    /// <summary>Writes until <paramref name="stop"/>; a write under way when it comes is finished first.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var roll = _random.Next(10);
            if (_tasks.Count < 5 || roll < 5)
            {
                var (answer, seq) = await WriteAsync(HttpMethod.Post, "/tasks", $$"""{"title":"Fault write {{n}}","completed":{{(roll % 2 == 0 ? "true" : "false")}}}""", HttpStatusCode.Created);
                Acknowledged(answer!.Value, seq);
            }
            else
            {
                var id = _tasks.Keys.ElementAt(_random.Next(_tasks.Count));
                if (roll < 8)
                {
                    var body = $$"""{"title":"Fault update {{n}}","completed":{{(_tasks[id].Completed ? "false" : "true")}}}""";
                    var (answer, seq) = await WriteAsync(HttpMethod.Patch, $"/tasks/{id}", body, HttpStatusCode.OK);
                    Acknowledged(answer!.Value, seq);
                }
                else
                {
                    var (_, seq) = await WriteAsync(HttpMethod.Delete, $"/tasks/{id}", null, HttpStatusCode.NoContent);
                    _tasks.Remove(id);
                    Seqs.Add(seq);
                }
            }

            try
            {
                await Task.Delay(100, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Acknowledged(JsonElement task, long seq)
    {
        _tasks[task.GetProperty("id").GetInt64()] = (task.GetProperty("title").GetString()!, task.GetProperty("completed").GetBoolean());
        Seqs.Add(seq);
    }

    private async Task<(JsonElement? Answer, long Seq)> WriteAsync(HttpMethod method, string path, string? body, HttpStatusCode expected)
    {
        var key = Guid.NewGuid().ToString();
        var clock = Stopwatch.StartNew();
        var last = "";
        while (clock.Elapsed < GiveUp)
        {
            using var request = new HttpRequestMessage(method, new Uri(api, path));
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            request.Headers.Add("Idempotency-Key", key);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }

            try
            {
                using var timeout = new CancellationTokenSource(Attempt);
                using var response = await http.SendAsync(request, timeout.Token);
                var text = await response.Content.ReadAsStringAsync(timeout.Token);
                if (response.StatusCode == expected)
                {
                    var seq = long.Parse(response.Headers.GetValues("X-TaskStream-Seq").Single());
                    return (text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : null, seq);
                }

                last = $"{(int)response.StatusCode} {text}";
                if ((int)response.StatusCode < 500 && response.StatusCode != HttpStatusCode.TooManyRequests)
                {
                    throw new InvalidOperationException($"{method} {path} (key {key}) was answered {last}");
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or IOException)
            {
                last = exception.Message;
            }

            Retries++;
            await Task.Delay(250);
        }

        throw new TimeoutException($"{method} {path} (key {key}) got no answer within {GiveUp.TotalSeconds} s; last: {last}");
    }
}
