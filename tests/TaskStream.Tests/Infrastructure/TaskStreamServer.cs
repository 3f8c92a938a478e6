using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using TaskStream.Silo;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// The real TaskStream host (the same composition Program.cs runs) on a loopback port of its own, with a
/// SQLite file in a fresh temporary folder and Orleans ports nobody else uses.
/// </summary>
public sealed class TaskStreamServer : IAsyncDisposable
{
    private TaskStreamServer(WebApplication app, string directory, Uri baseAddress)
    {
        App = app;
        Directory = directory;
        BaseAddress = baseAddress;
        // No response draining: a test that drops a stream must hang up at once, as a browser does,
        // rather than let HttpClient read on for up to 2 s to reuse the connection.
        Http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(60),
        };
    }

    public WebApplication App { get; }

    public string Directory { get; }

    public string DatabasePath => Path.Combine(Directory, "tasks.db");

    public Uri BaseAddress { get; }

    public HttpClient Http { get; }

    public static Task<TaskStreamServer> StartAsync(params (string Key, string Value)[] settings) =>
        StartAsync(NewDirectory(), configure: null, settings);

    public static string NewDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "taskstream-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>Starts a host on the database in <paramref name="directory"/> (created if it has none).</summary>
    public static async Task<TaskStreamServer> StartAsync(string directory, Action<WebApplicationBuilder>? configure, params (string Key, string Value)[] settings)
    {
        var args = new List<string>
        {
            "--urls=http://127.0.0.1:0",
            $"--TaskStream:Database:Path={Path.Combine(directory, "tasks.db")}",
            $"--TaskStream:Cluster:SiloPort={FreeTcpPort()}",
            $"--TaskStream:Cluster:GatewayPort={FreeTcpPort()}",
            "--Logging:LogLevel:Default=Warning",
        };
        args.AddRange(settings.Select(s => $"--{s.Key}={s.Value}"));

        var app = TaskStreamHost.Build([.. args], configure);
        await app.StartAsync();
        // The first address is the loopback one (a test may add others with `urls`).
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new TaskStreamServer(app, directory, new Uri(address));
    }

    public T GetService<T>() where T : notnull => App.Services.GetRequiredService<T>();

    /// <summary>Every address the host listens on.</summary>
    public IEnumerable<Uri> Addresses =>
        App.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Select(a => new Uri(a));

    /// <summary>
    /// A port nothing listens on, for a server a test starts later. Taken below the kernel's ephemeral range
    /// (32768-60999 here), which it hands to outgoing connections: a port from that range could be taken by some
    /// client's connection between this check and the server's bind. Never the same port twice in one run.
    /// </summary>
    public static int FreeTcpPort()
    {
        lock (GivenPorts)
        {
            while (true)
            {
                var port = Random.Shared.Next(24_000, 30_000);
                if (GivenPorts.Add(port) && Bindable(port))
                {
                    return port;
                }
            }
        }
    }

    private static readonly HashSet<int> GivenPorts = [];

    private static bool Bindable(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Any, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync() => await DisposeAsync(keepDatabase: false);

    /// <param name="keepDatabase">Leave the folder for another host to start on.</param>
    public async ValueTask DisposeAsync(bool keepDatabase)
    {
        Http.Dispose();
        try
        {
            await App.StopAsync();
        }
        finally
        {
            await App.DisposeAsync();
            try
            {
                if (!keepDatabase)
                {
                    System.IO.Directory.Delete(Directory, recursive: true);
                }
            }
            catch (IOException)
            {
                // A file still held open only leaves litter in the temp folder.
            }
        }
    }
}
