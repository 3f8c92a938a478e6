using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace TaskStream.Bench;

/// <summary>The two things measured: the TaskStream silo, and the bare Kestrel + Dapper baseline.</summary>
public enum Target
{
    TaskStream,
    Baseline,
}

/// <summary>
/// How to start a server: which database, how many tasks it is seeded with, and the event pacing; for a silo
/// that is one of several in a cluster, which one (<see cref="Member"/>), else it runs alone on ports of its own.
/// </summary>
public sealed record ServerConfig(string DatabasePath, int SampleTasks, int EventIntervalMs, bool LogStreams)
{
    public ClusterMember? Member { get; init; }

    /// <summary>The silo's store on PostgreSQL (Npgsql connection string) instead of the SQLite file; silos only.</summary>
    public string? Postgres { get; init; }
}

/// <summary>
/// Silo <c>--instance K</c> of a local cluster (localhost membership, instance 0 the primary, which must be up
/// before the others start). The base ports are the cluster's; the silo adds K to each.
/// </summary>
public sealed record ClusterMember(int Instance, int ApiPort, int SiloPort, int GatewayPort, string ClusterId);

/// <summary>
/// What the bench reads off a server's per-stream log line (TaskEventStream on the silo, the same fields on the
/// baseline): the release time, which no metric carries, and the outcome it belongs to.
/// </summary>
public sealed record StreamLogLine(string Outcome, double ReleaseMs);

/// <summary>/status as both targets answer it; the cluster fields are the silo's only.</summary>
public sealed record ServerStatus(string Status, long ActiveStreams, long OpenConnections)
{
    /// <summary>This silo's address, as the <c>end</c> event's <c>silo</c> names it.</summary>
    public string? Silo { get; init; }

    /// <summary>The active silos of the cluster as this silo sees them.</summary>
    public IReadOnlyList<string> Silos { get; init; } = [];

    /// <summary>TaskQuery grain activations on this silo, busy or idle.</summary>
    public long? QueryGrains { get; init; }
}

/// <summary>
/// A server started as a child process on loopback ports of its own. It is killed on dispose, and every
/// live one is killed on Ctrl-C or exit too, so no run leaves a server behind.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    /// <summary>The counter of ended streams, by outcome, that both targets export at /metrics.</summary>
    public const string StreamsEndedMetric = "taskstream_streams_ended_total";

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
        var url = $"http://127.0.0.1:{(member is null ? FreePort() : member.ApiPort + member.Instance)}";
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
                ? ["--urls", url, $"--TaskStream:Cluster:SiloPort={FreePort()}", $"--TaskStream:Cluster:GatewayPort={FreePort()}"]
                : [$"--TaskStream:Cluster:ApiPort={member.ApiPort}", $"--TaskStream:Cluster:SiloPort={member.SiloPort}",
                    $"--TaskStream:Cluster:GatewayPort={member.GatewayPort}", $"--TaskStream:Cluster:ClusterId={member.ClusterId}",
                    "--instance", member.Instance.ToString(System.Globalization.CultureInfo.InvariantCulture)];
            Add(info, [paths.SiloDll, .. where,
                $"--TaskStream:Database:Path={config.DatabasePath}",
                $"--TaskStream:Database:SampleTasks={config.SampleTasks}",
                .. config.Postgres is { } postgres
                    ? ["--TaskStream:Database:Provider=postgres", $"--TaskStream:Database:ConnectionString={postgres}"]
                    : Array.Empty<string>(),
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
            var self = Environment.ProcessPath!;
            var viaDotnet = Path.GetFileNameWithoutExtension(self) == "dotnet";
            info.FileName = self;
            Add(info, [.. viaDotnet ? [typeof(ServerProcess).Assembly.Location] : Array.Empty<string>(),
                "baseline-server", "--db", config.DatabasePath, "--urls", url,
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

    /// <summary>Resident set size now and its peak (VmHWM), in KiB, from /proc/PID/status.</summary>
    public (long RssKb, long PeakKb) Memory()
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = ParseKb(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = ParseKb(line);
            }
        }

        return (rss, peak);
    }

    /// <summary>The server's threads now: <c>Threads:</c> of /proc/PID/status.</summary>
    public int Threads() =>
        int.Parse(File.ReadLines($"/proc/{Pid}/status").First(l => l.StartsWith("Threads:", StringComparison.Ordinal)).AsSpan(8).Trim(),
            System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>CPU time the server has used so far (user + system), from /proc/PID/stat, in clock ticks (1/100 s here).</summary>
    public long CpuTicks()
    {
        // Fields after the command name, which is in parentheses and may contain spaces: utime and stime are 14 and 15.
        var stat = File.ReadAllText($"/proc/{Pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture)
            + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>CPU time the server has used so far (user + system), in seconds: <see cref="CpuTicks"/> at 100 per second.</summary>
    public double CpuSeconds() => CpuTicks() / 100.0;

    /// <summary>File descriptors the server holds now (sockets, database files): /proc/PID/fd.</summary>
    public int OpenFiles() => Directory.GetFileSystemEntries($"/proc/{Pid}/fd").Length;

    /// <summary>Resets VmHWM to the current RSS (Linux clear_refs "5"), so a later peak is this phase's own.</summary>
    public bool TryResetPeak()
    {
        try
        {
            File.WriteAllText($"/proc/{Pid}/clear_refs", "5");
            return true;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public async Task<ServerStatus> StatusAsync(HttpClient http, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        await using var body = await http.GetStreamAsync(Url("/status"), timeout.Token);
        using var json = await JsonDocument.ParseAsync(body, cancellationToken: timeout.Token);
        var root = json.RootElement;
        return new ServerStatus(root.GetProperty("status").GetString() ?? "",
            root.GetProperty("active_streams").GetInt64(), root.GetProperty("open_connections").GetInt64())
        {
            Silo = root.TryGetProperty("silo", out var silo) ? silo.GetString() : null,
            Silos = root.TryGetProperty("silos", out var silos) && silos.ValueKind == JsonValueKind.Array
                ? [.. silos.EnumerateArray().Select(s => s.GetString() ?? "")]
                : [],
            QueryGrains = root.TryGetProperty("query_grains", out var grains) ? grains.GetInt64() : null,
        };
    }

    /// <summary>Streams ended since start, by outcome: <c>taskstream_streams_ended_total{outcome}</c> of /metrics.</summary>
    public async Task<IReadOnlyDictionary<string, long>> StreamsEndedAsync(HttpClient http, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        return PrometheusText.SumBy(await http.GetStringAsync(Url("/metrics"), timeout.Token), StreamsEndedMetric, "outcome");
    }

    /// <summary>Polls /status until no stream and no database connection is open, or the time is up.</summary>
    public async Task<(ServerStatus Status, TimeSpan Waited)> WaitDrainedAsync(HttpClient http, TimeSpan max, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            var status = await StatusAsync(http, cancellationToken);
            var waited = Stopwatch.GetElapsedTime(start);
            if ((status.ActiveStreams == 0 && status.OpenConnections == 0) || waited >= max)
            {
                return (status, waited);
            }

            await Task.Delay(50, cancellationToken);
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

    private async Task WaitReadyAsync(HttpClient http, TimeSpan max, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(start) < max)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Target} exited with {_process.ExitCode} before it was ready:\n{RecentOutput()}");
            }

            try
            {
                if ((await StatusAsync(http, cancellationToken)).Status == "ready")
                {
                    return;
                }
            }
            catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // not listening yet
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"{Target} was not ready within {max.TotalSeconds} s:\n{RecentOutput()}");
    }

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line.Contains("\"ReleaseMs\"", StringComparison.Ordinal) && TryParseStreamLine(line) is { } parsed)
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

    private static readonly string[] StreamLogCategories = ["TaskStream.Api.TaskEventStream", BaselineServer.LogCategory];

    // One line of the JSON console formatter: {"Category":…, "State":{"Outcome":…, "ReleaseMs":…}}.
    // Numbers may come as JSON numbers or as strings, depending on how the logger was declared.
    private static StreamLogLine? TryParseStreamLine(string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            if (!root.TryGetProperty("Category", out var category) || !StreamLogCategories.Contains(category.GetString())
                || !root.TryGetProperty("State", out var state))
            {
                return null;
            }

            return new StreamLogLine(state.GetProperty("Outcome").ToString(), Number(state, "ReleaseMs"));
        }
        catch (Exception exception) when (exception is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }

        static double Number(JsonElement state, string name)
        {
            var value = state.GetProperty(name);
            return value.ValueKind == JsonValueKind.Number
                ? value.GetDouble()
                : double.Parse(value.GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    private static long ParseKb(string line) =>
        long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);

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

    /// <summary>A loopback port nobody listens on now (the OS picks it); used at once by the server.</summary>
    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// The first of <paramref name="count"/> consecutive ports free on both loopbacks now and not in
    /// <paramref name="taken"/> (which gets them), for a cluster's base ports: silo K takes base + K, possibly
    /// seconds later. They come from below the kernel's ephemeral range, so that no outgoing connection (the
    /// bench makes thousands) is given one of them as its local port in the meantime.
    /// </summary>
    public static int FreePortRun(int count, ISet<int> taken)
    {
        var ceiling = EphemeralLow() - count;
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var first = Random.Shared.Next(10_000, ceiling);
            if (Enumerable.Range(first, count).All(p => !taken.Contains(p) && IsFree(p)))
            {
                taken.UnionWith(Enumerable.Range(first, count));
                return first;
            }
        }

        throw new InvalidOperationException($"no {count} consecutive free loopback ports between 10000 and {ceiling}");

        static int EphemeralLow()
        {
            try
            {
                // "32768\t60999": the first port the kernel hands out to outgoing connections.
                var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
                return Math.Max(int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture), 20_000);
            }
            catch (Exception exception) when (exception is IOException or FormatException or UnauthorizedAccessException)
            {
                return 32_768;
            }
        }

        // Kestrel's "localhost" listens on 127.0.0.1 and, where there is one, [::1].
        static bool IsFree(int port) => IsFreeOn(IPAddress.Loopback, port) && (!Socket.OSSupportsIPv6 || IsFreeOn(IPAddress.IPv6Loopback, port));

        static bool IsFreeOn(IPAddress address, int port)
        {
            try
            {
                using var listener = new TcpListener(address, port);
                listener.Start();
                return true;
            }
            catch (SocketException exception) when (exception.SocketErrorCode != SocketError.AddressAlreadyInUse)
            {
                return address.AddressFamily == AddressFamily.InterNetworkV6; // no IPv6 loopback: nothing to collide with
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }
}

internal static class SequenceExtensions
{
    /// <summary>Groups consecutive elements with the same key, keeping their order.</summary>
    public static IEnumerable<List<T>> ChunkBy<T, TKey>(this IEnumerable<T> source, Func<T, TKey> key)
    {
        List<T>? run = null;
        TKey? current = default;
        foreach (var item in source)
        {
            var k = key(item);
            if (run is not null && EqualityComparer<TKey>.Default.Equals(k, current))
            {
                run.Add(item);
                continue;
            }

            if (run is not null)
            {
                yield return run;
            }

            run = [item];
            current = k;
        }

        if (run is not null)
        {
            yield return run;
        }
    }
}
