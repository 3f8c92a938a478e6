namespace TaskStream.Grains;

/// <summary>
/// Runs one task query at a time, on a database connection it opens for that query and closes when the
/// query ends, fails or is cancelled. Nothing outside the activation ever sees the connection.
/// </summary>
public interface ITaskQueryGrain : IGrainWithGuidKey
{
    /// <summary>
    /// Streams the tasks matching <paramref name="query"/> in id order, reading them in bounded pages, then
    /// a <see cref="QueryCompleted"/>. Cancelling the enumeration (client-side token) stops the query and
    /// closes its connection.
    /// </summary>
    /// <param name="query">What to stream.</param>
    /// <param name="lease">
    /// The caller's name for this use of the grain, which <see cref="ReleaseAsync"/> gives back; none (empty) for a
    /// caller that never releases the grain, which Orleans then collects when it has been idle long enough.
    /// </param>
    /// <param name="cancellationToken">Stops the query.</param>
    IAsyncEnumerable<TaskQueryEvent> QueryAsync(TaskQuery query, Guid lease = default, CancellationToken cancellationToken = default);

    /// <summary>
    /// Says that the caller disposed the query of <paramref name="lease"/> (or gave up before it started) and will
    /// not use this grain again: the activation deactivates instead of idling until Orleans collects it. A start of
    /// that lease's query that comes after this (the caller gave up while it was on its way) is refused.
    /// </summary>
    Task ReleaseAsync(Guid lease);
}
