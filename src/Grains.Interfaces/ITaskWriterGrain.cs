namespace TaskStream.Grains;

/// <summary>
/// Writes tasks. Every write runs in one transaction on a connection opened for it alone, gives the change
/// the next cluster-wide sequence number, and then tells every silo's follow streams that there is news.
/// </summary>
public interface ITaskWriterGrain : IGrainWithIntegerKey
{
    /// <summary>Stores a new task and returns it with the sequence number of its creation.</summary>
    Task<TaskWritten> CreateAsync(NewTask task);

    /// <summary>Changes the given fields of a task; <c>null</c> when there is no such task.</summary>
    Task<TaskWritten?> UpdateAsync(long id, TaskPatch patch);

    /// <summary>Deletes a task, leaving a tombstone for followers; the tombstone's sequence number, or <c>null</c> when there is no such task.</summary>
    Task<long?> DeleteAsync(long id);
}

/// <summary>A task to create.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.NewTask")]
public sealed record NewTask(
    [property: Id(0)] string Title,
    [property: Id(1)] string Description,
    [property: Id(2)] bool Completed);

/// <summary>The fields of a task to change; <c>null</c> leaves a field as it is.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskPatch")]
public sealed record TaskPatch(
    [property: Id(0)] string? Title = null,
    [property: Id(1)] string? Description = null,
    [property: Id(2)] bool? Completed = null);

/// <summary>A task as a write left it, and the sequence number of that write.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskWritten")]
public sealed record TaskWritten([property: Id(0)] TaskItem Task, [property: Id(1)] long Seq);
