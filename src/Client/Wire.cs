using System.Text.Json;
using System.Text.Json.Serialization;

namespace TaskStream.Client;

// The JSON the server sends besides tasks: this package's own copies, so a client needs none of the server's assemblies.

internal sealed record TaskListWire(
    [property: JsonPropertyName("tasks")] IReadOnlyList<TaskItem> Tasks,
    [property: JsonPropertyName("next_after")] long? NextAfter);

internal sealed record CountWire([property: JsonPropertyName("count")] long Count, [property: JsonPropertyName("silo")] string? Silo);

internal sealed record DeletedWire([property: JsonPropertyName("id")] long Id);

internal sealed record ResetWire([property: JsonPropertyName("reason")] string Reason);

internal sealed record ProblemWire(
    [property: JsonPropertyName("type")] string? Type,
    [property: JsonPropertyName("title")] string? Title,
    [property: JsonPropertyName("detail")] string? Detail,
    [property: JsonPropertyName("errors")] Dictionary<string, string[]>? Errors);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TaskItem))]
[JsonSerializable(typeof(NewTask))]
[JsonSerializable(typeof(TaskPatch))]
[JsonSerializable(typeof(TaskListWire))]
[JsonSerializable(typeof(CountWire))]
[JsonSerializable(typeof(DeletedWire))]
[JsonSerializable(typeof(ResetWire))]
[JsonSerializable(typeof(ProblemWire))]
internal sealed partial class ClientJsonContext : JsonSerializerContext;
