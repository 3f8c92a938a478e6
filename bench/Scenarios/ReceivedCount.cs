namespace TaskStream.Bench;

/// <summary>
/// How many task events followers have received, and a wait for it to reach a number: the writer waits for each
/// write to reach every follower without polling the count (a poll every millisecond is CPU the client figures
/// would count). One waiter at a time: the bench waits for one write at a time.
/// </summary>
internal sealed class ReceivedCount
{
    private long _count;
    private long _awaited = long.MaxValue;
    private TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long Value => Interlocked.Read(ref _count);

    public void Add(long received)
    {
        // Interlocked.Add and the Exchange below are full fences: either this sees the new target, or the waiter's
        // check after setting it sees this count.
        if (Interlocked.Add(ref _count, received) >= Volatile.Read(ref _awaited))
        {
            Volatile.Read(ref _reached).TrySetResult();
        }
    }

    /// <summary>Completes once the count is at least <paramref name="atLeast"/>.</summary>
    public Task WhenAtLeastAsync(long atLeast)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _reached, reached);
        Interlocked.Exchange(ref _awaited, atLeast);
        if (Value >= atLeast)
        {
            reached.TrySetResult();
        }

        return reached.Task;
    }
}
