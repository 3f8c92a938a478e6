using System.Diagnostics;
using System.Net.Sockets;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A real nginx in front of silos, started by the repository's <c>scripts/balancer.sh</c> (the configuration
/// <c>scripts/cluster.sh</c> uses), listening on a free loopback port. It runs in the foreground with a temporary
/// folder as its prefix (config, pid, logs, temp files); the script execs nginx, so it is stopped by its pid
/// (SIGTERM, which also ends its workers).
/// </summary>
public sealed class LoadBalancer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _prefix;

    private LoadBalancer(Process process, string prefix, Uri url) => (_process, _prefix, Url) = (process, prefix, url);

    public Uri Url { get; }

    /// <summary>nginx's error log: why it took a silo out, for failure messages.</summary>
    public string ErrorLog => File.Exists(ErrorLogPath) ? File.ReadAllText(ErrorLogPath) : "";

    private string ErrorLogPath => Path.Combine(_prefix, "nginx-error.log");

    /// <param name="silos">The silos' API addresses, <c>host:port</c>.</param>
    public static async Task<LoadBalancer> StartAsync(IReadOnlyList<string> silos)
    {
        var port = TaskStreamServer.FreeTcpPort();
        var prefix = TaskStreamServer.NewDirectory();
        // Its own complaints (nginx missing, a configuration nginx refuses) go to the test's output.
        var start = new ProcessStartInfo("bash");
        foreach (var argument in new[] { Repository.PathTo("scripts/balancer.sh"), prefix, "--listen", $"127.0.0.1:{port}" }.Concat(silos))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var balancer = new LoadBalancer(process, prefix, new Uri($"http://127.0.0.1:{port}"));
        try
        {
            await Eventually.TrueAsync(async () => !process.HasExited && await AcceptsAsync(port), TimeSpan.FromSeconds(10), "nginx accepts connections");
        }
        catch (TimeoutException exception)
        {
            await balancer.DisposeAsync();
            throw new TimeoutException($"{exception.Message}\n{balancer.ErrorLog}", exception);
        }

        return balancer;
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM: the master stops its worker and exits. SIGKILL would leave the worker behind.
            Process.Start("kill", ["-TERM", _process.Id.ToString()]).WaitForExit();
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(patience.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        _process.Dispose();
        Directory.Delete(_prefix, recursive: true);
    }
}
