using System.Text.Json.Serialization;

namespace TaskStream.Client;

/// <summary>A task as the server sends it.</summary>
/// <param name="Id">The task's id, given by the store; never used again once the task is deleted.</param>
/// <param name="Title">1 to 200 characters (text elements, as a reader counts them).</param>
/// <param name="Description">At most 2,000 characters; may be empty.</param>
/// <param name="Completed">Whether the task is done.</param>
public sealed record TaskItem(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("description")] string Description,
    [property: JsonPropertyName("completed")] bool Completed);

/// <summary>Which tasks a read, list or follow stream is about. Every value is checked by the server.</summary>
/// <param name="Completed">Only completed (<c>true</c>) or open (<c>false</c>) tasks; <c>null</c>: both.</param>
/// <param name="Limit">At most this many tasks (1 to 1,000,000,000); for a follow stream, a cap on its first snapshot only.</param>
/// <param name="After">Only tasks with a greater id (0 or more). Not allowed with <see cref="TaskStreamClient.FollowAsync"/>.</param>
public sealed record TaskFilter(bool? Completed = null, int? Limit = null, long? After = null)
{
    /// <summary>Every task.</summary>
    public static TaskFilter All { get; } = new();
}

/// <summary>A task to create.</summary>
/// <param name="Title">1 to 200 characters, not only whitespace.</param>
/// <param name="Description">At most 2,000 characters.</param>
/// <param name="Completed">Whether the task starts done.</param>
public sealed record NewTask(
    [property: JsonPropertyName("title")] string Title,
    [property: JsonPropertyName("description")] string Description = "",
    [property: JsonPropertyName("completed")] bool Completed = false);

/// <summary>The fields of a task to change; those left <c>null</c> keep their value (at least one must be set).</summary>
/// <param name="Title">A new title, or <c>null</c>.</param>
/// <param name="Description">A new description, or <c>null</c>.</param>
/// <param name="Completed">A new state, or <c>null</c>.</param>
public sealed record TaskPatch(
    [property: JsonPropertyName("title")] string? Title = null,
    [property: JsonPropertyName("description")] string? Description = null,
    [property: JsonPropertyName("completed")] bool? Completed = null);

/// <summary>One answer of the list endpoint.</summary>
/// <param name="Tasks">The tasks, in id order.</param>
/// <param name="NextAfter">
/// Set when the server's own cap on a list (not the filter's limit) cut the answer short: ask again with
/// <c>filter with { After = NextAfter }</c> for the rest.
/// </param>
public sealed record TaskPage(IReadOnlyList<TaskItem> Tasks, long? NextAfter);
