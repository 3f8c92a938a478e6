using System.Diagnostics;
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
    /// <param name="settings">Configuration keys; a <c>urls</c> setting replaces the loopback port chosen here, and its first address is <see cref="Url"/>.</param>
    public static async Task<SiloProcess> StartAsync(string workingDirectory, IReadOnlyDictionary<string, string> environment,
        params (string Key, string Value)[] settings)
    {
        var silo = Launch(workingDirectory, environment, settings);
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
    public static SiloProcess Launch(string workingDirectory, IReadOnlyDictionary<string, string> environment, params (string Key, string Value)[] settings)
    {
        var (start, url) = StartInfo(workingDirectory, environment, settings);
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
        (string Key, string Value)[] settings)
    {
        var urls = settings.Where(s => s.Key == "urls").Select(s => s.Value).LastOrDefault()
            ?? $"http://127.0.0.1:{TaskStreamServer.FreeTcpPort()}";
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(SiloDll);
        start.ArgumentList.Add($"--urls={urls}");
        start.ArgumentList.Add($"--TaskStream:Cluster:SiloPort={TaskStreamServer.FreeTcpPort()}");
        start.ArgumentList.Add($"--TaskStream:Cluster:GatewayPort={TaskStreamServer.FreeTcpPort()}");
        start.ArgumentList.Add("--Logging:LogLevel:Default=Warning");
        foreach (var (key, value) in settings.Where(s => s.Key != "urls"))
        {
            start.ArgumentList.Add($"--{key}={value}");
        }

        return (start, new Uri(urls.Split(';')[0]));
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
