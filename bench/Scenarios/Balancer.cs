using System.Diagnostics;

namespace TaskStream.Bench;

/// <summary>
/// nginx in front of a local cluster, configured as <c>scripts/cluster.sh</c> configures it (<c>scripts/balancer.sh</c>),
/// on a loopback port of its own; killed (with its workers) on dispose.
/// </summary>
internal sealed class Balancer : IAsyncDisposable
{
    private readonly Process _process;

    private Balancer(Process process, Uri baseUri) => (_process, BaseUri) = (process, baseUri);

    public Uri BaseUri { get; }

    public Uri Url(string pathAndQuery) => new(BaseUri, pathAndQuery);

    /// <summary>Starts nginx over <paramref name="silos"/> with its files in <paramref name="run"/>, and waits until it answers.</summary>
    public static async Task<Balancer> StartAsync(BenchContext context, IEnumerable<ServerProcess> silos, string run)
    {
        var port = LoopbackPorts.FreePort();
        var info = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(context.Paths.Root, "scripts", "balancer.sh"), run, "--listen", $"127.0.0.1:{port}" }
            .Concat(silos.Select(s => s.BaseUri.Authority)))
        {
            info.ArgumentList.Add(arg);
        }

        var balancer = new Balancer(Process.Start(info)!, new Uri($"http://127.0.0.1:{port}"));
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                using var response = await context.Load.Http.GetAsync(balancer.Url("/status"), context.Token);
                if (response.IsSuccessStatusCode)
                {
                    return balancer;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            if (balancer._process.HasExited || Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(30))
            {
                var log = Path.Combine(run, "nginx-error.log");
                var detail = (await balancer._process.StandardError.ReadToEndAsync(context.Token)).Trim();
                await balancer.DisposeAsync();
                throw new InvalidOperationException($"nginx did not answer on port {port}: {detail} "
                    + (File.Exists(log) ? await File.ReadAllTextAsync(log, context.Token) : ""));
            }

            await Task.Delay(100, context.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }

        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        _process.Dispose();
    }
}
