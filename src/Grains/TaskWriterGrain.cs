using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <inheritdoc cref="ITaskWriterGrain"/>
/// <remarks>
/// A stateless worker: writes run in the silo that took the request, several at once. The store's write lock
/// (<see cref="TaskStore.WriteAsync"/>) orders them across the cluster, not this grain.
/// </remarks>
[Orleans.Concurrency.StatelessWorker]
internal sealed class TaskWriterGrain(TaskStore store, ChangeFeed changes) : Grain, ITaskWriterGrain
{
    public async Task<WriteAnswer> WriteAsync(TaskWrite write, IdempotencyKey? key = null, DateTime? requestedAt = null)
    {
        // Any Orleans client may call this grain, not only the HTTP API that checked the write already.
        TaskRules.Check(write);
        // A stateless worker runs on the silo that took the request, so its clock is the request's.
        var left = (requestedAt ?? DateTime.UtcNow) + store.WriteTimeout - DateTime.UtcNow;
        if (left <= TimeSpan.Zero)
        {
            return Busy;
        }

        using var deadline = new CancellationTokenSource(left);
        WriteAnswer answer;
        try
        {
            answer = await store.WriteAsync(write, key, deadline.Token);
        }
        catch (Exception exception) when (TaskStore.IsBusy(exception))
        {
            return Busy;
        }

        if (answer is { Outcome: WriteOutcome.Written, Seq: { } seq })
        {
            await changes.PublishAsync(seq);
        }

        return answer;
    }

    public async Task<TaskWritten> CreateAsync(NewTask task) =>
        Written(await WriteAsync(new TaskWrite.Create(task)))!;

    public async Task<TaskWritten?> UpdateAsync(long id, TaskPatch patch) =>
        Written(await WriteAsync(new TaskWrite.Update(id, patch)));

    public async Task<long?> DeleteAsync(long id) =>
        (await WriteAsync(new TaskWrite.Delete(id))).Seq;

    private static readonly WriteAnswer Busy = new(WriteOutcome.StoreBusy, null, null);

    private static TaskWritten? Written(WriteAnswer answer) =>
        answer is { Task: { } task, Seq: { } seq } ? new TaskWritten(task, seq) : null;
}
