using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace TaskStream.Client;

/// <summary>
/// A client of one TaskStream service (one silo, a balancer, or a list of silos to fail over between). It does not
/// own <paramref name="http"/>: use one client per <see cref="HttpClient"/>, for the life of the application.
/// Requests and stream reconnects are tried again on failure (see <see cref="TaskStreamClientOptions.MaxRetries"/>);
/// every write carries an <c>Idempotency-Key</c>, so a write tried again is made at most once.
/// </summary>
/// <param name="http">Sends the requests; its <see cref="HttpClient.BaseAddress"/> is the server unless <see cref="TaskStreamClientOptions.BaseAddresses"/> is set.</param>
/// <param name="options">Addresses, write token and retries; defaults when <c>null</c>.</param>
public sealed partial class TaskStreamClient(HttpClient http, TaskStreamClientOptions? options = null)
{
    private const string IdempotencyKeyHeader = "Idempotency-Key";
    private readonly TaskStreamClientOptions _options = options ?? new TaskStreamClientOptions();
    private readonly ServerAddresses _addresses = new(http, options?.BaseAddresses ?? []);

    /// <summary>
    /// One answer of the list endpoint (<c>GET /tasks/list</c>): the matching tasks in id order, as many as the
    /// server's cap allows. <see cref="TaskPage.NextAfter"/> says where to continue when that cap cut it short.
    /// </summary>
    /// <exception cref="TaskStreamProblemException">The server refused the request, for example a <see cref="TaskFilter.Limit"/> of 0.</exception>
    public async Task<TaskPage> ListTasksAsync(TaskFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var path = "tasks/list" + QueryString(filter ?? TaskFilter.All, follow: false);
        using var response = await SendAsync(address => new HttpRequestMessage(HttpMethod.Get, address(path)), cancellationToken);
        var list = await ReadAsync(response, ClientJsonContext.Default.TaskListWire, cancellationToken);
        return new TaskPage(list.Tasks, list.NextAfter);
    }

    /// <summary>The task with id <paramref name="id"/>, or <c>null</c> when there is none.</summary>
    /// <exception cref="TaskStreamProblemException">The server refused the request (an id below 1 is a 400).</exception>
    public async Task<TaskItem?> GetTaskAsync(long id, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(address => new HttpRequestMessage(HttpMethod.Get, address(TaskPath(id))), cancellationToken);
        return IsNoSuchTask(response) ? null : await ReadAsync(response, ClientJsonContext.Default.TaskItem, cancellationToken);
    }

    /// <summary>Creates a task (<c>POST /tasks</c>) and returns it with the id the store gave it.</summary>
    /// <param name="task">The new task's fields.</param>
    /// <param name="idempotencyKey">
    /// The write's key; by default a new UUID for this call, which makes the client's own retries safe. Pass your own
    /// (1 to 255 visible ASCII characters) to retry across calls or restarts: the same key with the same write gets
    /// the first answer and writes nothing, for as long as the server keeps keys (24 h by default).
    /// </param>
    /// <param name="cancellationToken">Stops waiting; a write already sent may still be made.</param>
    /// <exception cref="TaskStreamProblemException">Refused: a validation error (naming each field), no or a wrong write token, the key used for another write.</exception>
    public async Task<TaskItem> CreateTaskAsync(NewTask task, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        using var response = await WriteAsync(HttpMethod.Post, "tasks", () => JsonContent.Create(task, ClientJsonContext.Default.NewTask),
            idempotencyKey, cancellationToken);
        return await ReadAsync(response, ClientJsonContext.Default.TaskItem, cancellationToken);
    }

    /// <summary>Changes the fields set in <paramref name="patch"/> (<c>PATCH /tasks/{id}</c>) and returns the task as it is now, or <c>null</c> when there is no such task.</summary>
    /// <param name="idempotencyKey">The write's key, a new UUID by default (see <see cref="CreateTaskAsync"/>).</param>
    /// <param name="cancellationToken">Stops waiting; a write already sent may still be made.</param>
    /// <exception cref="TaskStreamProblemException">Refused: a validation error (naming each field), no or a wrong write token, the key used for another write.</exception>
    /// <param name="id">The task's id.</param>
    /// <param name="patch">The fields to change (at least one).</param>
    public async Task<TaskItem?> UpdateTaskAsync(long id, TaskPatch patch, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        using var response = await WriteAsync(HttpMethod.Patch, TaskPath(id), () => JsonContent.Create(patch, ClientJsonContext.Default.TaskPatch),
            idempotencyKey, cancellationToken);
        return IsNoSuchTask(response) ? null : await ReadAsync(response, ClientJsonContext.Default.TaskItem, cancellationToken);
    }

    /// <summary>Deletes a task (<c>DELETE /tasks/{id}</c>): <c>true</c>, or <c>false</c> when there was no such task.</summary>
    /// <param name="idempotencyKey">The write's key, a new UUID by default (see <see cref="CreateTaskAsync"/>).</param>
    /// <param name="cancellationToken">Stops waiting; a write already sent may still be made.</param>
    /// <exception cref="TaskStreamProblemException">Refused: a validation error (naming each field), no or a wrong write token, the key used for another write.</exception>
    /// <param name="id">The task's id.</param>
    public async Task<bool> DeleteTaskAsync(long id, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        using var response = await WriteAsync(HttpMethod.Delete, TaskPath(id), body: null, idempotencyKey, cancellationToken);
        if (IsNoSuchTask(response))
        {
            return false;
        }

        return response.IsSuccessStatusCode ? true : throw await ProblemAsync(response, cancellationToken);
    }

    private Task<HttpResponseMessage> WriteAsync(HttpMethod method, string path, Func<HttpContent>? body, string? idempotencyKey,
        CancellationToken cancellationToken)
    {
        // One key for every attempt of this call: a retry after a lost answer gets that answer replayed.
        var key = idempotencyKey ?? Guid.NewGuid().ToString();
        return SendAsync(address =>
        {
            var request = new HttpRequestMessage(method, address(path)) { Content = body?.Invoke() };
            request.Headers.TryAddWithoutValidation(IdempotencyKeyHeader, key);
            if (_options.WriteToken is { } token)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            return request;
        }, cancellationToken);
    }

    private static string TaskPath(long id) => "tasks/" + id.ToString(CultureInfo.InvariantCulture);

    private static string QueryString(TaskFilter filter, bool follow)
    {
        List<string> parameters = [];
        if (follow)
        {
            parameters.Add("follow=true");
        }

        if (filter.Completed is { } completed)
        {
            parameters.Add(completed ? "completed=true" : "completed=false");
        }

        if (filter.Limit is { } limit)
        {
            parameters.Add("limit=" + limit.ToString(CultureInfo.InvariantCulture));
        }

        if (filter.After is { } after)
        {
            parameters.Add("after=" + after.ToString(CultureInfo.InvariantCulture));
        }

        return parameters.Count == 0 ? "" : "?" + string.Join('&', parameters);
    }

    // The server's own 404 for an absent task is problem+json; a 404 from anything else (a wrong base path) is an error.
    private static bool IsNoSuchTask(HttpResponseMessage response) =>
        response.StatusCode == HttpStatusCode.NotFound && response.Content.Headers.ContentType?.MediaType == "application/problem+json";

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw await ProblemAsync(response, cancellationToken);
        }

        return await response.Content.ReadFromJsonAsync(type, cancellationToken)
            ?? throw new JsonException($"The server answered {(int)response.StatusCode} with no {typeof(T).Name}.");
    }

    private static async Task<TaskStreamProblemException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        ProblemWire? problem = null;
        if (response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json")
        {
            try
            {
                problem = await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.ProblemWire, cancellationToken);
            }
            catch (JsonException)
            {
                // Not a problem document after all: the status alone has to do.
            }
        }

        return new TaskStreamProblemException(response.StatusCode, problem?.Title ?? response.ReasonPhrase, problem?.Detail, problem?.Type,
            problem?.Errors ?? [], RetryAfter(response));
    }
}
