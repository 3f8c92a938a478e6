using System.Diagnostics;
using System.Text;
using TaskStream.Client;
using TaskStream.Tests.Infrastructure;

namespace TaskStream.Tests;

/// <summary>The console sample (samples/Watch), run as a process against a real host.</summary>
[Collection(nameof(ClientHost))]
public sealed class WatchSampleTests(ClientHost host)
{
    /// <summary>The sample built beside these tests (same configuration).</summary>
    private static readonly string WatchDll = Repository.PathTo(Path.Combine("samples", "Watch", "bin",
        new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, "net10.0", "TaskStream.Watch.dll"));

    private static readonly string[] SeedTitles =
        ["Implement SSE streaming", "Database integration", "Add filtering", "Write documentation", "Performance testing"];

    [Fact]
    public async Task TheSamplePrintsTheTasksAndExits()
    {
        var tasks = await TaskStreamClientTests.ListAllAsync(host.Client, TaskFilter.All);

        var (exitCode, output, errors, _) = await RunAsync("--url", host.Server.BaseAddress.ToString());

        Assert.True(exitCode == 0, errors);
        Assert.All(SeedTitles, title => Assert.Contains(title, output));
        Assert.Contains($"{tasks.Count} tasks.", output);

        var completed = await RunAsync("--url", host.Server.BaseAddress.ToString(), "--completed", "true");
        Assert.Contains("   2 [x] Database integration", completed.Output);
        Assert.DoesNotContain("Implement SSE streaming", completed.Output);
    }

    [Theory]
    [InlineData("--url is required")]
    [InlineData("--completed must be true or false, not 'maybe'", "--url", "http://127.0.0.1:1", "--completed", "maybe")]
    [InlineData("--url must be an http:// or https:// address, not 'localhost'", "--url", "localhost")]
    [InlineData("unknown argument '--colour'", "--url", "http://127.0.0.1:1", "--colour")]
    [InlineData("--completed needs a value", "--url", "http://127.0.0.1:1", "--completed")]
    public async Task BadArgumentsGetOneClearLineAndAFailingExitCode(string message, params string[] arguments)
    {
        var (exitCode, output, errors, _) = await RunAsync(arguments);

        Assert.Equal(2, exitCode);
        Assert.Empty(output);
        var line = Assert.Single(errors.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"watch: {message} (usage: watch --url", line);
    }

    [Fact]
    public async Task TheSampleFollowsChangesUntilCtrlC()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])[WatchDll, "--url", host.Server.BaseAddress.ToString(), "--follow"])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            string Output() { lock (output) { return output.ToString(); } }
            await Eventually.TrueAsync(() => Task.FromResult(Output().Contains("-- live:")), TimeSpan.FromSeconds(30), "the sample is live");
            var task = await host.Client.CreateTaskAsync(new NewTask("Seen by the sample", "live"));
            await Eventually.TrueAsync(() => Task.FromResult(Output().Contains($"added {task.Id,4} [ ] Seen by the sample - live")),
                TimeSpan.FromSeconds(30), $"the sample printed the new task:\n{Output()}");
            await host.Client.DeleteTaskAsync(task.Id);
            await Eventually.TrueAsync(() => Task.FromResult(Output().Contains($"removed {task.Id,4}")), TimeSpan.FromSeconds(30),
                "the sample printed the delete");

            Process.Start("kill", ["-INT", process.Id.ToString()]).WaitForExit(); // Ctrl-C
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(exit.Token);
            Assert.True(process.ExitCode == 0, await errors);
            Assert.Empty(await errors);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    private static Task<(int ExitCode, string Output, string Errors, TimeSpan Took)> RunAsync(params string[] arguments) =>
        Repository.RunAsync("dotnet", [WatchDll, .. arguments], TimeSpan.FromSeconds(60));
}
