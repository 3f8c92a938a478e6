using System.Collections.Concurrent;
using System.Diagnostics;

namespace TaskStream.Bench;

/// <summary>
/// A server started as a child process on loopback ports of its own. It is killed on dispose, and every
/// live one is killed on Ctrl-C or exit too, so no run leaves a server behind.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<int, Process> Live = new();
    private readonly Process _process;
    private readonly ConcurrentQueue<StreamLogLine> _streamLines = new();
    private readonly ConcurrentQueue<string> _recentOutput = new();

    private ServerProcess(Target target, Process process, Uri baseUri)
    {
        Target = target;
        _process = process;
        BaseUri = baseUri;
    }

    public Target Target { get; }

    public Uri BaseUri { get; }

    public int Pid => _process.Id;

    /// <summary>How many per-stream log lines the server has written since start (any outcome).</summary>
    public int StreamLineCount => _streamLines.Count;

    /// <summary>Kills every server still running and waits (briefly) until they are gone.</summary>
    public static void KillAll()
    {
        foreach (var process in Live.Values)
        {
            TryKill(process);
        }

        foreach (var process in Live.Values)
        {
            try
            {
                process.WaitForExit(TimeSpan.FromSeconds(5));
            }
            catch (InvalidOperationException)
            {
                // not started or already disposed
            }
        }
    }

    public static async Task<ServerProcess> StartAsync(
        Target target, ServerConfig config, BenchPaths paths, HttpClient http, CancellationToken cancellationToken)
    {
        var member = config.Member;
        if (member is not null && target != Target.TaskStream)
        {
            throw new ArgumentException("only silos form a cluster", nameof(config));
        }

        // A cluster member listens where its instance number puts it; a lone server on a port the OS picks.
        var url = $"http://127.0.0.1:{(member is null ? LoopbackPorts.FreePort() : member.ApiPort + member.Instance)}";
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(config.DatabasePath)!,
        };
        // Both log one JSON object per line, so per-stream lines can be read off stdout; outside `cancel`
        // those lines are switched off so logging does not cost throughput.
        string[] logging = ["--Logging:Console:FormatterName=json"];
        if (target == Target.TaskStream)
        {
            info.FileName = "dotnet";
            // A member gets the cluster's base ports and its instance (no --urls: the silo then listens on
            // localhost at ApiPort + instance); a lone silo gets --urls and ports of its own.
            string[] where = member is null
                ? ["--urls", url, $"--TaskStream:Cluster:SiloPort={LoopbackPorts.FreePort()}", $"--TaskStream:Cluster:GatewayPort={LoopbackPorts.FreePort()}"]
                : [$"--TaskStream:Cluster:ApiPort={member.ApiPort}", $"--TaskStream:Cluster:SiloPort={member.SiloPort}",
                    $"--TaskStream:Cluster:GatewayPort={member.GatewayPort}", $"--TaskStream:Cluster:ClusterId={member.ClusterId}",
                    "--instance", member.Instance.ToString(System.Globalization.CultureInfo.InvariantCulture)];
            Add(info, [paths.SiloDll, .. where,
                $"--TaskStream:Database:Path={config.DatabasePath}",
                $"--TaskStream:Database:SampleTasks={config.SampleTasks}",
                .. config.Postgres is { } postgres
                    ? ["--TaskStream:Database:Provider=postgres", $"--TaskStream:Database:ConnectionString={postgres}"]
                    : Array.Empty<string>(),
                .. config.Placement is { } placement ? [$"--TaskStream:Grains:Placement={placement}"] : Array.Empty<string>(),
                $"--TaskStream:Streaming:EventIntervalMs={config.EventIntervalMs}",
                // Every bench client comes from loopback and idle opens 10,000 streams and more: the caps would
                // measure themselves, not the relay. Their check still runs on every stream.
                "--TaskStream:Limits:MaxStreams=1000000", "--TaskStream:Limits:MaxStreamsPerClient=1000000",
                // `follow` writes from loopback as fast as it can; the write limiter would pace it, not the feed.
                "--TaskStream:Limits:WritesPerSecond=1000000", "--TaskStream:Limits:WriteBurst=1000000",
                .. logging,
                .. config.LogStreams ? Array.Empty<string>() : ["--Logging:LogLevel:TaskStream.Api=Warning"]]);
        }
        else
        {
            // The baseline is this very program in another mode, in a process of its own.
            RunSelf(info, ["baseline-server", "--db", config.DatabasePath, "--urls", url,
                "--interval-ms", config.EventIntervalMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
                .. logging,
                .. config.LogStreams ? Array.Empty<string>() : [$"--Logging:LogLevel:{BaselineServer.LogCategory}=Warning"]]);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.Start();
        Live[process.Id] = process;
        var server = new ServerProcess(target, process, new Uri(url));
        // Always drain both pipes: a full pipe would block the server's logging and so the server.
        process.OutputDataReceived += (_, e) => server.OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => server.OnOutput(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitReadyAsync(http, TimeSpan.FromSeconds(120), cancellationToken);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    public Uri Url(string pathAndQuery) => new(BaseUri, pathAndQuery);

    /// <summary>Null while the server runs; once it has exited, its exit code and last output.</summary>
    public string? ExitDescription() =>
        _process.HasExited ? $"exited with code {_process.ExitCode}; its last output:\n{RecentOutput()}" : null;

    /// <summary>Throws, with the exit code and the server's last output, when the server is no longer running.</summary>
    public void EnsureRunning(string during)
    {
        if (ExitDescription() is { } exit)
        {
            throw new InvalidOperationException($"{Target} (pid {Pid}) during {during} {exit}");
        }
    }

    /// <summary>Takes the per-stream log lines written so far (each is returned once).</summary>
    public List<StreamLogLine> TakeStreamLines()
    {
        var lines = new List<StreamLogLine>();
        while (_streamLines.TryDequeue(out var line))
        {
            lines.Add(line);
        }

        return lines;
    }

    /// <summary>
    /// The server's last lines of output other than per-stream lines, for error messages, last line first;
    /// a run of similar lines (the same first 100 characters) is shown once with its count.
    /// </summary>
    public string RecentOutput() => string.Join('\n', _recentOutput.Reverse()
        .ChunkBy(line => line.Length > 100 ? line[..100] : line)
        .Take(6)
        .Select(run => (run.Count > 1 ? $"({run.Count}×) " : "") + (run[0].Length > 300 ? run[0][..300] + "…" : run[0])));

    public async ValueTask DisposeAsync()
    {
        TryKill(_process);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        Live.TryRemove(_process.Id, out _);
        _process.Dispose();
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line.Contains("\"ReleaseMs\"", StringComparison.Ordinal) && StreamLogLine.TryParse(line) is { } parsed)
        {
            _streamLines.Enqueue(parsed);
            return;
        }

        _recentOutput.Enqueue(line.Length > 400 ? line[..400] : line);
        while (_recentOutput.Count > 200)
        {
            _recentOutput.TryDequeue(out _);
        }
    }

    /// <summary>Makes <paramref name="info"/> start this very program (the bench) in another mode, given by <paramref name="args"/>.</summary>
    internal static void RunSelf(ProcessStartInfo info, IEnumerable<string> args)
    {
        var self = Environment.ProcessPath!;
        info.FileName = self;
        Add(info, [.. Path.GetFileNameWithoutExtension(self) == "dotnet" ? [typeof(ServerProcess).Assembly.Location] : Array.Empty<string>(), .. args]);
    }

    /// <summary>Kills <paramref name="process"/> with the servers (on Ctrl-C, exit, or <see cref="KillAll"/>) until <see cref="Forget"/>.</summary>
    internal static void Track(Process process) => Live[process.Id] = process;

    internal static void Forget(Process process) => Live.TryRemove(process.Id, out _);

    private static void Add(ProcessStartInfo info, IEnumerable<string> args)
    {
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
    }

    private static void TryKill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception exception) when (exception is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // already gone
        }
    }
}
