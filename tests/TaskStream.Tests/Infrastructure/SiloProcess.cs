using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A TaskStream silo as a real process (the built TaskStream.Silo.dll), for tests in which a silo must
/// really crash (<see cref="Kill"/> is SIGKILL) or stop on SIGTERM.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private SiloProcess(Process process, Uri url)
    {
        _process = process;
        Url = url;
        process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri Url { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output { get { lock (_output) { return _output.ToString(); } } }

    /// <summary>The silo binary built beside these tests (same configuration).</summary>
    public static string SiloDll { get; } = Repository.PathTo(Path.Combine("src", "Silo", "bin",
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug",
        "net10.0", "TaskStream.Silo.dll"));

    public static Task<SiloProcess> StartAsync(string workingDirectory, params (string Key, string Value)[] settings) =>
        StartAsync(workingDirectory, new Dictionary<string, string>(), settings);

    /// <param name="environment">Environment variables of the process, such as ASP.NET Core's <c>ASPNETCORE_…</c> switches.</param>
    /// <param name="settings">Configuration keys; a <c>urls</c> setting replaces the loopback port chosen here, and its first address is
    /// <see cref="Url"/>; without one, a <c>TaskStream:Cluster:ApiPort</c> setting leaves the silo its default address on that port.</param>
    public static Task<SiloProcess> StartAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment,
        params (string Key, string Value)[] settings) => StartAsync(workingDirectory, environment, networkNamespace: null, settings);

    /// <param name="networkNamespace">A network namespace to run the silo in (<c>ip netns exec</c>, which execs: the process is the silo's).</param>
    public static async Task<SiloProcess> StartAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment,
        string? networkNamespace, params (string Key, string Value)[] settings)
    {
        var silo = Launch(workingDirectory, environment, networkNamespace, settings);
        try
        {
            await Eventually.TrueAsync(async () => !silo.HasExited && await silo.StatusAsync() is not null,
                TimeSpan.FromSeconds(60), $"silo at {silo.Url} answers /status");
        }
        catch (TimeoutException exception)
        {
            throw new TimeoutException($"{exception.Message}\n{silo.Output}");
        }

        return silo;
    }

    /// <summary>Starts a silo process without waiting for it to be ready (it may never be).</summary>
    public static SiloProcess Launch(string workingDirectory, IReadOnlyDictionary<string, string> environment, params (string Key, string Value)[] settings) =>
        Launch(workingDirectory, environment, networkNamespace: null, settings);

    private static SiloProcess Launch(string workingDirectory, IReadOnlyDictionary<string, string> environment, string? networkNamespace,
        (string Key, string Value)[] settings)
    {
        var (start, url) = StartInfo(workingDirectory, environment, settings, networkNamespace);
        return new SiloProcess(Process.Start(start)!, url);
    }

    /// <summary>Runs a silo that is expected to refuse to start, until it exits (within a minute).</summary>
    public static async Task<FailedStart> RunUntilExitAsync(string workingDirectory, params (string Key, string Value)[] settings)
    {
        var (start, _) = StartInfo(workingDirectory, new Dictionary<string, string>(), settings);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            await process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"the silo did not exit\n{await output}\n{await error}");
        }

        return new FailedStart(process.ExitCode, await output, await error);
    }

    private static (ProcessStartInfo Start, Uri Url) StartInfo(string workingDirectory, IReadOnlyDictionary<string, string> environment,
        (string Key, string Value)[] settings, string? networkNamespace = null)
    {
        // A test that names the API port tries the silo's default address, localhost on that port.
        var apiPort = settings.Where(s => s.Key == "TaskStream:Cluster:ApiPort").Select(s => s.Value).LastOrDefault();
        var urls = settings.Where(s => s.Key == "urls").Select(s => s.Value).LastOrDefault()
            ?? (apiPort is null ? $"http://127.0.0.1:{TaskStreamServer.FreeTcpPort()}" : null);
        var start = new ProcessStartInfo(networkNamespace is null ? "dotnet" : "ip")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (networkNamespace is not null)
        {
            foreach (var argument in new[] { "netns", "exec", networkNamespace, "dotnet" })
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(SiloDll);
        if (urls is not null)
        {
            start.ArgumentList.Add($"--urls={urls}");
        }

        start.ArgumentList.Add($"--TaskStream:Cluster:SiloPort={TaskStreamServer.FreeTcpPort()}");
        start.ArgumentList.Add($"--TaskStream:Cluster:GatewayPort={TaskStreamServer.FreeTcpPort()}");
        start.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        foreach (var (key, value) in settings.Where(s => s.Key != "urls"))
        {
            start.ArgumentList.Add($"--{key}={value}");
        }

        // An API port out of range stops the silo before it listens anywhere.
        return (start, new Uri(urls?.Split(';')[0] ?? (int.TryParse(apiPort, out var port) && port <= IPEndPoint.MaxPort ? $"http://localhost:{port}" : "http://localhost")));
    }

    /// <summary>The silo's /status, or null while it does not answer.</summary>
    public async Task<JsonElement?> StatusAsync()
    {
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            return JsonDocument.Parse(await http.GetStringAsync(new Uri(Url, "/status"))).RootElement;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>SIGKILL: the process dies at once, as in a crash.</summary>
    public void Kill() => _process.Kill();

    /// <summary>SIGTERM: a graceful stop.</summary>
    public void Terminate() => Process.Start("kill", ["-TERM", _process.Id.ToString()]).WaitForExit();

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancellation.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    /// <summary>How a silo that refused to start ended: its exit code and what it wrote to each stream.</summary>
    public sealed record FailedStart(int ExitCode, string StandardOutput, string StandardError);
}
