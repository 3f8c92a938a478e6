using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using TaskStream.Api;
using TaskStream.Grains;

namespace TaskStream.Silo;

/// <summary>
/// Composes one TaskStream process: an Orleans silo with the HTTP API co-hosted in it.
/// Program.cs runs it; the tests build the very same host on loopback ports of their own.
/// </summary>
public static class TaskStreamHost
{
    /// <param name="args">Command-line arguments: configuration keys such as <c>--urls</c>.</param>
    /// <param name="configure">Extra services, added last (tests use it to add grain call filters).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // appsettings.json is read from beside the binary; relative paths (the database) from the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--instance"] = $"{ClusterSettings.Section}:Instance" });
        var cluster = ClusterSettings.From(builder.Configuration);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
        {
            builder.WebHost.UseUrls($"http://localhost:{cluster.ApiPort + cluster.Instance}");
        }

        builder.UseOrleans(silo => cluster.Apply(silo.AddTaskStreamChangeHints()));
        builder.Services.AddTaskStreamGrains();
        builder.Services.AddTaskStreamApi();
        builder.AddTaskStreamOperations();
        // Many SSE clients connect at once (the default backlog of 512 overflowed when 5,000 clients connected at once in a trial);
        // the kernel caps this at net.core.somaxconn.
        builder.Services.Configure<SocketTransportOptions>(sockets =>
            sockets.Backlog = builder.Configuration.GetValue("TaskStream:Server:ListenBacklog", 4096));
        // Streams end on ApplicationStopping, so a stop needs seconds, not the default 30.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(10));

        configure?.Invoke(builder);

        var app = builder.Build();
        // X-Forwarded-For from the proxies in TaskStream:Network:TrustedProxies only (TrustedProxies); from no one
        // when none are named. Harmless twice: ASPNETCORE_FORWARDEDHEADERS_ENABLED adds one with the same options.
        app.UseForwardedHeaders();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRateLimiter();
        app.UseTaskStreamOperations();
        app.MapTaskStream();
        app.MapTaskStreamPage();
        return app;
    }
}
