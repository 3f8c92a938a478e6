using TaskStream.Api;
using TaskStream.Grains;

namespace TaskStream.Silo;

/// <summary>
/// Composes one TaskStream process: an Orleans silo with the HTTP API co-hosted in it.
/// Program.cs runs it; the tests build the very same host on loopback ports of their own.
/// </summary>
public static class TaskStreamHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var cluster = builder.Configuration.GetSection("TaskStream:Cluster");

        builder.UseOrleans(silo => silo.UseLocalhostClustering(
            siloPort: cluster.GetValue("SiloPort", 11111),
            gatewayPort: cluster.GetValue("GatewayPort", 30000)));
        builder.Services.AddTaskStreamGrains();
        builder.Services.AddTaskStreamApi();
        // Streams end on ApplicationStopping, so a stop needs seconds, not the default 30.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(10));

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapTaskStream();
        return app;
    }
}
