namespace TaskStream.Grains;

/// <summary>
/// Writes tasks. Every write runs in one transaction on a connection opened for it alone, gives the change
/// the next cluster-wide sequence number, and then tells every silo's follow streams that there is news.
/// </summary>
public interface ITaskWriterGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Makes <paramref name="write"/>; with a <paramref name="key"/>, at most once per key: the key is stored with
    /// the write's answer in the write's own transaction. A later call with the same key and the same write, from any
    /// silo, gets that answer back and writes nothing; one made while the first is still running waits for it (the
    /// store's write lock orders them). With another write: <see cref="WriteOutcome.KeyReused"/>, nothing written.
    /// A write that cannot commit within the store's write timeout of <paramref name="requestedAt"/> (when its
    /// request arrived; now if not given) is not made: <see cref="WriteOutcome.StoreBusy"/>.
    /// </summary>
    Task<WriteAnswer> WriteAsync(TaskWrite write, IdempotencyKey? key = null, DateTime? requestedAt = null);

    // The three below are WriteAsync without a key, answered in the shape each write has.

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

/// <summary>A write, as <see cref="ITaskWriterGrain.WriteAsync"/> takes it.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskWrite")]
public abstract record TaskWrite
{
    [GenerateSerializer, Immutable, Alias("TaskStream.TaskWrite.Create")]
    public sealed record Create([property: Id(0)] NewTask Task) : TaskWrite;

    [GenerateSerializer, Immutable, Alias("TaskStream.TaskWrite.Update")]
    public sealed record Update([property: Id(0)] long Id, [property: Id(1)] TaskPatch Patch) : TaskWrite;

    [GenerateSerializer, Immutable, Alias("TaskStream.TaskWrite.Delete")]
    public sealed record Delete([property: Id(0)] long Id) : TaskWrite;
}

/// <summary>
/// A client's idempotency key. <paramref name="Scope"/> is the client (a hash of its write token, or its address
/// when it writes without one), so one client can never replay another's answer.
/// </summary>
[GenerateSerializer, Immutable, Alias("TaskStream.IdempotencyKey")]
public sealed record IdempotencyKey([property: Id(0)] string Scope, [property: Id(1)] string Key);

/// <summary>
/// What a write answered: the task as it left it (none for a delete, or when there was no such task) and the
/// change's sequence number (none when there was no such task); or, for a reused key, nothing.
/// </summary>
[GenerateSerializer, Immutable, Alias("TaskStream.WriteAnswer")]
public sealed record WriteAnswer(
    [property: Id(0)] WriteOutcome Outcome,
    [property: Id(1)] TaskItem? Task,
    [property: Id(2)] long? Seq);

[GenerateSerializer, Alias("TaskStream.WriteOutcome")]
public enum WriteOutcome
{
    /// <summary>The write ran now (and its answer is kept with its key, if it had one).</summary>
    Written,

    /// <summary>The key was used before for this very request: its first answer, and nothing written now.</summary>
    Replayed,

    /// <summary>The key was used before for another request: nothing written, no answer.</summary>
    KeyReused,

    /// <summary>The store could not take the write in time (another writer held its lock): nothing written.</summary>
    StoreBusy,
}
