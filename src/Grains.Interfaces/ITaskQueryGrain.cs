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
    IAsyncEnumerable<TaskQueryEvent> QueryAsync(TaskQuery query, CancellationToken cancellationToken = default);
}
