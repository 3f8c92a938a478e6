using System.Runtime.CompilerServices;
using TaskStream.Grains.Data;

namespace TaskStream.Grains;

/// <inheritdoc cref="ITaskQueryGrain"/>
public sealed class TaskQueryGrain(TaskDatabase database) : Grain, ITaskQueryGrain
{
    // [EnumeratorCancellation] is what lets the caller's cancellation reach this iterator (FACTS.md);
    // a plain token parameter would never be cancelled here.
    public async IAsyncEnumerable<TaskItem> QueryAsync(
        TaskQuery query, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Opened here, lazily, not in OnActivateAsync: the connection belongs to this query alone.
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await foreach (var task in TaskStore.QueryAsync(connection, query, database.PageSize, cancellationToken))
        {
            yield return task;
        }
    }
}
