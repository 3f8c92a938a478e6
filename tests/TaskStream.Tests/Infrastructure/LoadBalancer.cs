using System.Diagnostics;
using System.Net.Sockets;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A real nginx in front of silos, configured from the repository's <c>deploy/nginx/taskstream.conf.template</c>,
/// listening on a free loopback port. It runs in the foreground with a temporary folder as its prefix (config, pid,
/// logs, temp files), and is stopped by its pid (SIGTERM, which also ends its worker).
/// </summary>
public sealed class LoadBalancer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _prefix;

    private LoadBalancer(Process process, string prefix, Uri url) => (_process, _prefix, Url) = (process, prefix, url);

    public Uri Url { get; }

    /// <summary>nginx's error log: why it took a silo out, for failure messages.</summary>
    public string ErrorLog => File.Exists(Path.Combine(_prefix, "error.log")) ? File.ReadAllText(Path.Combine(_prefix, "error.log")) : "";

    /// <summary>The template with <c>{{LISTEN}}</c> filled in and each line holding <c>{{SILO}}</c> written once per silo.</summary>
    public static string Render(string template, string listen, IReadOnlyList<string> silos) =>
        string.Join('\n', template.Split('\n').SelectMany(line => line.Contains("{{SILO}}", StringComparison.Ordinal)
            ? silos.Select(silo => line.Replace("{{SILO}}", silo, StringComparison.Ordinal))
            : [line.Replace("{{LISTEN}}", listen, StringComparison.Ordinal)]));

    /// <param name="silos">The silos' API addresses, <c>host:port</c>.</param>
    public static async Task<LoadBalancer> StartAsync(IReadOnlyList<string> silos)
    {
        var port = TaskStreamServer.FreeTcpPort();
        var prefix = TaskStreamServer.NewDirectory();
        Directory.CreateDirectory(Path.Combine(prefix, "temp"));
        var config = Path.Combine(prefix, "nginx.conf");
        await File.WriteAllTextAsync(config,
            Render(await File.ReadAllTextAsync(Repository.PathTo("deploy/nginx/taskstream.conf.template")), $"127.0.0.1:{port}", silos));
        var start = new ProcessStartInfo("nginx") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-p", prefix + "/", "-e", Path.Combine(prefix, "error.log"), "-c", config, "-g", "daemon off;" })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new InvalidOperationException("nginx is not installed: scripts/setup.sh installs it.", exception);
        }

        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
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
