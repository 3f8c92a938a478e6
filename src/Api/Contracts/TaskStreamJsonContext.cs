using System.Text.Json;
using System.Text.Json.Serialization;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary><c>GET /tasks/list</c>: one page of tasks, and where to continue if the server cut it short.</summary>
internal sealed record TaskList(
    [property: JsonPropertyName("tasks")] IReadOnlyList<TaskItem> Tasks,
    [property: JsonPropertyName("total")] int Total,
    [property: JsonPropertyName("streaming_available")] bool StreamingAvailable,
    [property: JsonPropertyName("next_after"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? NextAfter);

/// <summary>
/// The data of the <c>end</c> event that closes a finished stream: tasks sent, the silo whose grain ran the query, and
/// the silo that relayed it (behind a load balancer, the only way a browser's EventSource can learn it).
/// </summary>
internal sealed record StreamEnd(
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("silo")] string? Silo,
    [property: JsonPropertyName("relay")] string Relay);

/// <summary>The data of a follow stream's <c>task-deleted</c> event.</summary>
internal sealed record DeletedTask([property: JsonPropertyName("id")] long Id);

/// <summary>
/// The data of a follow stream's <c>reset</c> event: the client drops every task it holds, because a fresh
/// snapshot follows. <c>reason</c>: <c>horizon</c> (the change log no longer keeps the changes after the client's
/// position) or <c>store</c> (the position is not this store's: it was re-created or restored).
/// </summary>
internal sealed record StreamReset([property: JsonPropertyName("reason")] string Reason);

/// <summary>
/// The data of a follow stream's <c>live</c> event: changes sent before it (the snapshot, or a resuming
/// client's catch-up), the silo whose grain runs the query, and the silo that relays it.
/// </summary>
internal sealed record StreamLive(
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("silo")] string Silo,
    [property: JsonPropertyName("relay")] string Relay);

/// <summary><c>GET /status</c>.</summary>
internal sealed record StatusResponse(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("streaming")] string Streaming,
    [property: JsonPropertyName("silo")] string Silo,
    [property: JsonPropertyName("silos")] IReadOnlyList<string> Silos,
    [property: JsonPropertyName("active_streams")] long ActiveStreams,
    [property: JsonPropertyName("open_connections")] long OpenConnections,
    [property: JsonPropertyName("query_grains")] long QueryGrains);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(TaskItem))]
[JsonSerializable(typeof(TaskList))]
[JsonSerializable(typeof(StreamEnd))]
[JsonSerializable(typeof(DeletedTask))]
[JsonSerializable(typeof(StreamLive))]
[JsonSerializable(typeof(StreamReset))]
[JsonSerializable(typeof(StatusResponse))]
internal sealed partial class TaskStreamJsonContext : JsonSerializerContext;
