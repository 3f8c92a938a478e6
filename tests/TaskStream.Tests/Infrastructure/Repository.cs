using System.Diagnostics;

namespace TaskStream.Tests.Infrastructure;

/// <summary>Finds files of this repository and runs programs the tests drive (curl, node).</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string PathTo(string relative) => Path.Combine(Root, relative);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "TaskStream.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("TaskStream.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Runs a program to its end (or kills it after <paramref name="timeout"/>) and returns what it printed.</summary>
    public static async Task<(int ExitCode, string Output, string Errors, TimeSpan Took)> RunAsync(
        string fileName, IEnumerable<string> arguments, TimeSpan timeout, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Root,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{fileName} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} ran longer than {timeout}: {await output}{await errors}");
        }

        return (process.ExitCode, await output, await errors, clock.Elapsed);
    }
}
