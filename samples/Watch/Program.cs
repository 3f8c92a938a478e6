// Prints a TaskStream server's tasks, then (with --follow) every change as it happens, through TaskStream.Client.
//   dotnet run --project samples/Watch -- --url http://localhost:8000 [--follow] [--completed true|false]
using TaskStream.Client;
using TaskStream.Watch;

if (WatchArguments.Parse(args) is not { } arguments)
{
    return 2; // Parse printed the one line saying what is wrong
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true; // let the stream end and the program return, instead of the runtime killing it
    stop.Cancel();
};

using var http = new HttpClient { BaseAddress = arguments.Url };
var client = new TaskStreamClient(http);
var filter = new TaskFilter(Completed: arguments.Completed);
try
{
    if (arguments.Follow)
    {
        await LiveView.RunAsync(client.FollowAsync(filter, stop.Token), Console.Out);
    }
    else
    {
        var count = 0;
        await foreach (var task in client.ReadTasksAsync(filter, stop.Token))
        {
            Console.WriteLine(LiveView.Line(task));
            count++;
        }

        Console.WriteLine($"{count} tasks.");
    }

    return 0;
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    return 0; // Ctrl-C
}
catch (TaskStreamProblemException problem)
{
    Console.Error.WriteLine($"watch: the server refused: {problem.Message}");
    return 1;
}
catch (Exception exception) when (exception is HttpRequestException or IOException or TimeoutException or TaskCanceledException)
{
    Console.Error.WriteLine($"watch: cannot read {arguments.Url}: {exception.Message}");
    return 1;
}
