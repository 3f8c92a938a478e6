// TaskStream benchmark. `dotnet run -c Release --project bench -- <scenario|all> [--smoke]` (scenarios: ScenarioRegistry)
// starts the silo and the baseline as child processes on loopback, drives both with the same SSE client,
// prints TaskStream beside the baseline and writes bench/results/<name>-<time>.json. See bench/README.md.
// `baseline-server` and `follow-client` are its other modes: the baseline itself, and a process of follow clients,
// which the bench starts as separate processes.
using System.Diagnostics;
using System.Runtime.InteropServices;
using TaskStream.Bench;

if (args is ["baseline-server", ..])
{
    return await BaselineServer.RunAsync(args[1..]);
}

if (args is ["follow-client", ..])
{
    return await FollowClient.RunAsync(args[1..]);
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception exception) when (exception is ArgumentException or FormatException or IndexOutOfRangeException)
{
    Console.Error.WriteLine(exception.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

// Whatever ends the run (Ctrl-C, SIGTERM, SIGHUP, an exception), the servers it started die with it.
// The runtime raises no ProcessExit on SIGTERM by itself, so the signals are handled here.
using var stop = new CancellationTokenSource();
void OnSignal(PosixSignalContext context)
{
    context.Cancel = true; // let the run unwind: it reports "interrupted" and cleans up
    stop.Cancel();
    ServerProcess.KillAll();
}

// `using` keeps the registrations alive (and so in force) until the run ends.
using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
using var onHangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal);
var paths = BenchPaths.Find(options);
AppDomain.CurrentDomain.ProcessExit += (_, _) => CleanUp();
var report = new Report();
var mode = options.Smoke ? "smoke" : "full";
var commit = Git(paths.Root, "rev-parse --short HEAD") + (Git(paths.Root, "status --porcelain -- src bench").Length > 0 ? "+dirty" : "");
Console.WriteLine($"TaskStream bench ({mode}): {string.Join(", ", options.Scenarios)}; commit {commit}; {Environment.ProcessorCount} cores");
try
{
    if (options.Build && !Build(paths.Root))
    {
        return 1;
    }

    using var load = new SseLoad();
    var context = new BenchContext(options, paths, load, report, stop.Token);
    foreach (var scenario in options.Scenarios)
    {
        var started = Stopwatch.GetTimestamp();
        Console.WriteLine($"-- {scenario} …");
        try
        {
            await ScenarioRegistry.Find(scenario).RunAsync(context);
        }
        catch (Exception exception) when (!stop.IsCancellationRequested)
        {
            report.Problem(scenario, $"scenario failed: {exception}");
            foreach (var partial in report.Sections.Where(s => s.Scenario == scenario && s.Rows.Count > 0))
            {
                Report.Print(partial); // what was measured before it failed
            }
        }

        Console.WriteLine($"-- {scenario} took {Stopwatch.GetElapsedTime(started).TotalSeconds:0} s");
    }
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    Console.WriteLine("interrupted");
    return 130;
}
finally
{
    CleanUp();
}

var name = (options.Scenarios.Length == 1 ? options.Scenarios[0] : "all") + (options.Smoke ? "-smoke" : "");
var file = report.Write(paths.Results, name, new { mode, commit, cores = Environment.ProcessorCount, options });
Console.WriteLine();
Console.WriteLine($"results: {file}");
foreach (var problem in report.Problems)
{
    Console.WriteLine($"  problem - {problem.Scenario}: {problem.Text.Split('\n')[0]}");
}

if (report.Failed(options.Smoke))
{
    Console.WriteLine($"FAILED: {report.Problems.Count} problem(s)");
    return 1;
}

Console.WriteLine(report.Problems.Count == 0
    ? "OK: no errors, all counts as expected (timings are reported, never asserted)"
    : "OK for TaskStream; the problems above are the baseline's (they fail only a --smoke run)");
return 0;

static bool Build(string root)
{
    // Measure what the working tree says, not a stale build of it.
    Console.WriteLine("building src/Silo (Release) …");
    using var build = Process.Start(new ProcessStartInfo("dotnet", ["build", "-c", "Release", "--nologo", "-v", "q", "src/Silo"])
    {
        WorkingDirectory = root,
        RedirectStandardOutput = true,
    })!;
    var output = build.StandardOutput.ReadToEnd();
    build.WaitForExit();
    if (build.ExitCode != 0)
    {
        Console.Error.WriteLine($"dotnet build src/Silo failed:\n{output}");
    }

    return build.ExitCode == 0;
}

static string Git(string root, string arguments)
{
    try
    {
        using var git = Process.Start(new ProcessStartInfo("git", $"-C \"{root}\" {arguments}") { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = git.StandardOutput.ReadToEnd().Trim();
        git.WaitForExit();
        return output;
    }
    catch (System.ComponentModel.Win32Exception)
    {
        return "unknown";
    }
}

void CleanUp()
{
    ServerProcess.KillAll();
    TryDelete(paths.Scratch);
}

static void TryDelete(string directory)
{
    try
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }
    catch (IOException)
    {
        // a file still held by a dying server; it is under the temp directory
    }
}
