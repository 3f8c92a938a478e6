using System.Data.Common;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Options;
using TaskStream.Api;
using TaskStream.Grains;
using TaskStream.Grains.Data;

namespace TaskStream.Silo;

/// <summary>
/// Composes one TaskStream process: an Orleans silo with the HTTP API co-hosted in it.
/// Program.cs runs it; the tests build the very same host on loopback ports of their own.
/// </summary>
public static partial class TaskStreamHost
{
    /// <summary>Runs the silo until it is stopped; a mistake in its settings or surroundings ends it with one line on stderr.</summary>
    /// <returns>The process exit code: 0 after a stop, 1 when it could not start.</returns>
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication? app = null;
        try
        {
            app = Build(args, builder =>
                // The failure is printed below as one line; the host would log it again with its stack trace.
                builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical));
            // Not RunAsync: it disposes the host, and the failure is described from the host's configuration.
            await app.StartAsync();
            await app.WaitForShutdownAsync();
            return 0;
        }
        catch (Exception exception) when (StartupFailure.Describe(exception, app?.Configuration) is { } lines)
        {
            foreach (var line in lines)
            {
                await Console.Error.WriteLineAsync(line);
            }

            return 1;
        }
        finally
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }
        }
    }

    /// <param name="args">Command-line arguments: configuration keys such as <c>--urls</c>.</param>
    /// <param name="configure">Extra services, added last (tests use it to add grain call filters).</param>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // appsettings.json is read from beside the binary; relative paths (the database) from the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string> { ["--instance"] = $"{ClusterSettings.Section}:Instance" });
        var cluster = ClusterSettings.From(builder.Configuration);
        cluster.EnsurePortsFree();
        HttpsCertificates.ResolveFromWorkingDirectory(builder.Configuration);
        // Kestrel:Endpoints (HTTPS, say) replace the default address rather than being overridden by it.
        var useDefault = string.IsNullOrEmpty(builder.WebHost.GetSetting(WebHostDefaults.ServerUrlsKey)) && !builder.Configuration.GetSection("Kestrel:Endpoints").Exists();
        ApiAddresses.EnsureFree(builder.Configuration, useDefault ? cluster.ApiPort + cluster.Instance : null);
        if (cluster.Membership == ClusterMembership.Redis)
        {
            ClusterRedis.EnsureReachable(cluster);
        }

        var tls = ClusterTls.From(builder.Configuration);
        if (useDefault)
        {
            builder.WebHost.UseUrls($"http://localhost:{cluster.ApiPort + cluster.Instance}");
        }

        // The store first: hosted services start in this order, so a database that cannot be opened stops the process
        // before the silo has joined its cluster (stopping a started silo logs warnings with stack traces).
        builder.Services.AddTaskStreamGrains();
        builder.UseOrleans(silo =>
        {
            cluster.Apply(silo.AddTaskStreamChangeHints());
            tls?.Apply(silo);
        });
        builder.Services.AddTaskStreamApi();
        builder.AddTaskStreamOperations();
        builder.Services.AddOptions<ServerOptions>().BindConfiguration(ServerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<SocketTransportOptions>().Configure<IOptions<ServerOptions>>((sockets, server) => sockets.Backlog = server.Value.ListenBacklog);
        // Streams end on ApplicationStopping, so a stop needs seconds, not the default 30.
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(10));

        configure?.Invoke(builder);

        var app = builder.Build();
        // Options are valid by then; which store a silo uses is the first thing to check when tasks seem missing.
        app.Lifetime.ApplicationStarted.Register(() =>
            LogDatabase(app.Logger, Describe(app.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value)));
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

    private static string Describe(DatabaseOptions database)
    {
        if (database.Provider != DatabaseProvider.Postgres)
        {
            return $"SQLite file {Path.GetFullPath(database.Path)}";
        }

        var connection = new DbConnectionStringBuilder { ConnectionString = database.ConnectionString };
        connection.TryGetValue("Database", out var name);
        connection.TryGetValue("Host", out var host);
        return $"PostgreSQL database {name} on {host}";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Database: {Database}")]
    private static partial void LogDatabase(ILogger logger, string database);
}
