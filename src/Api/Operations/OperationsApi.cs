using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// What operators read: the Orleans dashboard (<c>/dashboard</c>, guarded by <see cref="DashboardAccess"/>),
/// Prometheus metrics (<c>/metrics</c>) and health endpoints (<c>/health/live</c>, <c>/health/ready</c>).
/// </summary>
public static class OperationsApi
{
    public const string DashboardPath = "/dashboard";
    private const string ReadyTag = "ready";

    // The meters /metrics exports: TaskStream's own, Orleans', ASP.NET Core's (requests, connections) and the .NET
    // runtime's (garbage collections, bytes allocated, heap size, thread pool queue).
    private static readonly string[] Meters =
        [TaskStreamMetrics.MeterName, "Microsoft.Orleans", "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime"];

    public static WebApplicationBuilder AddTaskStreamOperations(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DashboardOptions>().BindConfiguration(DashboardOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        // Which services exist is decided before there are any: these two are bound here too, from the same sections.
        if (Bind<DashboardOptions>(builder.Configuration, DashboardOptions.Section).Enabled ?? builder.Environment.IsDevelopment())
        {
            builder.UseOrleans(silo => silo.AddDashboard());
            builder.Services.AddSingleton<DashboardAccess>();
        }

        if (Bind<MetricsOptions>(builder.Configuration, MetricsOptions.Section).Enabled)
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(Meters).AddPrometheusExporter());
            builder.Services.ConfigureOpenTelemetryMeterProvider((services, metrics) =>
                metrics.AddView(OnlyThisHost(services.GetRequiredService<IMeterFactory>())));
        }

        builder.Services.AddSingleton<DatabaseCheck>(); // one instance, for its cached answer
        builder.Services.AddHealthChecks()
            .AddCheck<SiloActiveCheck>("silo", tags: [ReadyTag])
            .AddCheck<DatabaseCheck>("database", tags: [ReadyTag], timeout: TimeSpan.FromSeconds(5));
        return builder;
    }

    private static T Bind<T>(IConfiguration configuration, string section) where T : new() =>
        configuration.GetSection(section).Get<T>() ?? new T();

    // OpenTelemetry picks meters by name, process-wide: without this, a process running several hosts (the
    // tests do) would export another host's instruments of the same name. Orleans' meter is static (no scope).
    private static Func<Instrument, MetricStreamConfiguration?> OnlyThisHost(IMeterFactory factory) => instrument =>
        instrument.Meter.Scope is null || ReferenceEquals(instrument.Meter.Scope, factory) ? null : MetricStreamConfiguration.Drop;

    public static WebApplication UseTaskStreamOperations(this WebApplication app)
    {
        if (app.Services.GetService<DashboardAccess>() is { } access)
        {
            // By path rather than on the dashboard's endpoints, so nothing under /dashboard escapes the guard.
            app.UseWhen(http => http.Request.Path.StartsWithSegments(DashboardPath), branch => branch.Use(access.InvokeAsync));
            app.MapOrleansDashboard(DashboardPath);
        }

        if (app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value.Enabled)
        {
            app.MapPrometheusScrapingEndpoint("/metrics");
        }

        // Live: the process answers (no checks run). Ready: the silo is an active cluster member and the store answers.
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = HealthResponse.WriteAsync });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = HealthResponse.WriteAsync,
        });
        return app;
    }
}
