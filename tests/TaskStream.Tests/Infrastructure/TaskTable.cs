using System.Net.Http.Json;
using System.Text.Json;
using Dapper;

namespace TaskStream.Tests.Infrastructure;

/// <summary>What a follower's view must be checked against: the tasks <c>/tasks/list</c> shows, with each one's latest change number.</summary>
public static class TaskTable
{
    /// <summary>The tasks matching <paramref name="completed"/> (id → (JSON as /tasks/list gives it, seq from the store)), every page.</summary>
    public static async Task<Dictionary<long, (string Json, long Seq)>> MatchingAsync(HttpClient http, Uri api, ExternalWriter store, bool? completed)
    {
        var tasks = new Dictionary<long, string>();
        var filter = completed is { } c ? $"&completed={(c ? "true" : "false")}" : "";
        for (long? after = 0; after is { } from;)
        {
            var page = await http.GetFromJsonAsync<JsonElement>(new Uri(api, $"/tasks/list?after={from}{filter}"));
            foreach (var task in page.GetProperty("tasks").EnumerateArray())
            {
                tasks.Add(task.GetProperty("id").GetInt64(), task.GetRawText());
            }

            after = page.TryGetProperty("next_after", out var next) ? next.GetInt64() : null;
        }

        await using var connection = await store.OpenConnectionAsync();
        var seqs = (await connection.QueryAsync<(long Id, long Seq)>("SELECT id, seq FROM tasks")).ToDictionary(t => t.Id, t => t.Seq);
        return tasks.ToDictionary(t => t.Key, t => (t.Value, seqs[t.Key]));
    }
}
