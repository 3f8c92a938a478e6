using TaskStream.Client;

namespace TaskStream.Watch;

/// <summary>
/// Applies a follow stream's events to a view of the tasks (add or replace, remove, clear on reset) and prints
/// each change as it lands, so the view always matches what the server lists for the filter.
/// </summary>
internal static class LiveView
{
    public static async Task RunAsync(IAsyncEnumerable<TaskStreamEvent> events, TextWriter output)
    {
        var view = new SortedDictionary<long, TaskItem>();
        var live = false;
        await foreach (var e in events)
        {
            switch (e)
            {
                case TaskReceived { Task: var task }:
                    var known = view.ContainsKey(task.Id);
                    view[task.Id] = task;
                    output.WriteLine(live ? $"{(known ? "changed" : "added")} {Line(task)}" : Line(task));
                    break;
                case TaskRemoved { TaskId: var id }:
                    view.Remove(id);
                    output.WriteLine($"removed {id,4}");
                    break;
                case StreamReset { Reason: var reason }:
                    view.Clear();
                    live = false;
                    output.WriteLine($"-- reset ({reason}): the server could not resume; a fresh list follows --");
                    break;
                case StreamLive:
                    live = true;
                    output.WriteLine($"-- live: {view.Count} tasks; changes follow (Ctrl-C to stop) --");
                    break;
                case StreamEnded:
                    output.WriteLine($"-- ended: {view.Count} tasks --");
                    break;
            }

            output.Flush();
        }
    }

    public static string Line(TaskItem task) =>
        $"{task.Id,4} [{(task.Completed ? 'x' : ' ')}] {task.Title}{(task.Description.Length > 0 ? " - " + task.Description : "")}";
}
