using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <inheritdoc cref="ITaskWriterGrain"/>
/// <remarks>
/// A stateless worker: writes run in the silo that took the request, several at once. The store's write lock
/// (<see cref="TaskDatabase.WriteAsync{T}"/>) orders them across the cluster, not this grain.
/// </remarks>
[Orleans.Concurrency.StatelessWorker]
public sealed class TaskWriterGrain(TaskDatabase database, ChangeFeed changes) : Grain, ITaskWriterGrain
{
    public async Task<TaskWritten> CreateAsync(NewTask task)
    {
        var written = await database.WriteAsync((connection, transaction) => TaskWrites.CreateAsync(connection, transaction, task));
        await changes.PublishAsync(written.Seq);
        return written;
    }

    public async Task<TaskWritten?> UpdateAsync(long id, TaskPatch patch)
    {
        var written = await database.WriteAsync((connection, transaction) => TaskWrites.UpdateAsync(connection, transaction, id, patch));
        if (written is not null)
        {
            await changes.PublishAsync(written.Seq);
        }

        return written;
    }

    public async Task<long?> DeleteAsync(long id)
    {
        var seq = await database.WriteAsync((connection, transaction) => TaskWrites.DeleteAsync(connection, transaction, id));
        if (seq is { } deleted)
        {
            await changes.PublishAsync(deleted);
        }

        return seq;
    }
}
