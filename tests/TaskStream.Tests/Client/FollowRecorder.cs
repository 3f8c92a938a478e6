using TaskStream.Client;

namespace TaskStream.Tests;

/// <summary>
/// Runs a <see cref="TaskStreamClient.FollowAsync"/> enumeration in the background, as an application would, keeping
/// every event and the view they build (add or replace, remove, clear on reset).
/// </summary>
public sealed class FollowRecorder : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TaskStreamEvent> _events = [];
    private readonly SortedDictionary<long, TaskItem> _view = [];

    public FollowRecorder(TaskStreamClient client, TaskFilter? filter = null) => Run = RecordAsync(client, filter);

    /// <summary>The enumeration; faults with whatever it threw.</summary>
    public Task Run { get; }

    public IReadOnlyList<TaskStreamEvent> Events { get { lock (_events) { return [.. _events]; } } }

    public IReadOnlyList<TaskItem> View { get { lock (_events) { return [.. _view.Values]; } } }

    public bool IsLive => Events.Any(e => e is StreamLive);

    private async Task RecordAsync(TaskStreamClient client, TaskFilter? filter)
    {
        await foreach (var e in client.FollowAsync(filter, _stop.Token))
        {
            lock (_events)
            {
                _events.Add(e);
                switch (e)
                {
                    case TaskReceived received:
                        _view[received.Task.Id] = received.Task;
                        break;
                    case TaskRemoved removed:
                        _view.Remove(removed.TaskId);
                        break;
                    case StreamReset:
                        _view.Clear();
                        break;
                }
            }
        }
    }

    /// <summary>Fails the test at once if the enumeration ended (it should run until stopped).</summary>
    public Task<bool> HasAsync(Func<FollowRecorder, bool> condition)
    {
        if (Run.IsCompleted)
        {
            Run.GetAwaiter().GetResult();
            throw new InvalidOperationException("The follow enumeration ended by itself.");
        }

        return Task.FromResult(condition(this));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Run;
        }
        catch (OperationCanceledException)
        {
            // Stopped, as asked.
        }

        // _stop is not disposed: it has no timer, and a test may stop a recorder before its `await using` does.
    }
}
