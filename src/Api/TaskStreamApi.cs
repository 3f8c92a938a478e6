using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using TaskStream.Grains;
using TaskStream.Grains.Data;

namespace TaskStream.Api;

/// <summary>
/// The HTTP face of TaskStream: streams, lists and status (and, through <see cref="TaskWriteApi"/>, writes). Each query runs in a grain lent to it alone
/// (<see cref="QueryGrainPool"/>), which opens the query's own database connection.
/// </summary>
public static class TaskStreamApi
{
    public static IServiceCollection AddTaskStreamApi(this IServiceCollection services)
    {
        services.AddOptions<ListOptions>().BindConfiguration(ListOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<QueryGrainPoolOptions>().BindConfiguration(QueryGrainPoolOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<StreamLimitsOptions>().BindConfiguration(StreamLimitsOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<StreamCapPolicy>();
        // Who a client is (ClientAddress): forwarded addresses from named proxies only; loopback trust without credentials.
        services.AddOptions<NetworkOptions>().BindConfiguration(NetworkOptions.Section)
            .BindSingleValue($"{NetworkOptions.Section}:TrustedProxies", network => network.TrustedProxies, (network, proxies) => network.TrustedProxies = proxies)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<ForwardedHeadersOptions>, TrustedProxies>();
        services.AddSingleton<LoopbackTrust>();
        services.AddSingleton<QueryGrainPool>();
        services.AddSingleton<ReadLimiter>();
        services.AddSingleton<HeartbeatMonitor>();
        services.AddSingleton<TaskEventStream.Services>();
        services.AddTaskWrites();
        services.AddProblemDetails();
        // Status-code pages (404, 405) answer in problem+json whatever the Accept header says, like every other
        // error here: an EventSource sends Accept: text/event-stream, which the default writer would not match.
        services.Configure<StatusCodePagesOptions>(pages => pages.HandleAsync = context =>
            TypedResults.Problem(statusCode: context.HttpContext.Response.StatusCode).ExecuteAsync(context.HttpContext));
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, TaskStreamJsonContext.Default));
        return services;
    }

    public static IEndpointRouteBuilder MapTaskStream(this IEndpointRouteBuilder app)
    {
        var tasks = app.MapGroup("/tasks");
        // The seed had two implementations of one contract; here both routes are the same handler. Streams are
        // capped (StreamCapPolicy); the list has its own bound (ReadLimiter), so it answers while the silo is full of streams.
        tasks.MapGet("/stream", StreamTasks);
        tasks.MapGet("/stream-function", StreamTasks);
        tasks.MapGet("/list", ListTasks);
        app.MapGet("/status", GetStatus);
        app.MapTaskWrites();
        return app;
    }

    internal static Results<TaskEventStream, ValidationProblem, ProblemHttpResult> StreamTasks(
        HttpRequest request, QueryGrainPool grains, StreamCapPolicy caps)
    {
        if (!TaskQueryParameters.TryParse(request, forStream: true, out var query, out var errors))
        {
            return Invalid(errors);
        }

        if (caps.TryAdmit(request.HttpContext) is { } refused)
        {
            return refused;
        }

        return new TaskEventStream(grains.Rent(), query);
    }

    internal static async Task<Results<TimedOk<TaskList>, ValidationProblem, ProblemHttpResult>> ListTasks(
        HttpRequest request, QueryGrainPool grains, ReadLimiter reads, IOptions<ListOptions> options, CancellationToken cancellationToken)
    {
        if (!TaskQueryParameters.TryParse(request, forStream: false, out var query, out var errors))
        {
            return Invalid(errors);
        }

        // Held for the query only: the permit is back before the answer is sent.
        using var permit = await reads.AcquireAsync(cancellationToken);
        if (!permit.IsAcquired)
        {
            return reads.Busy(request.HttpContext.Response);
        }

        // Without a limit, or past the cap, read one task more than fits to learn whether to send next_after.
        var max = options.Value.MaxTasks;
        var capped = query.Limit is null || query.Limit > max;
        var take = capped ? max : query.Limit!.Value;
        var tasks = await grains.ReadTasksAsync(query with { Limit = capped ? max + 1 : take }, batchSize: 1000, cancellationToken);
        long? nextAfter = null;
        if (tasks.Count > take)
        {
            tasks.RemoveAt(take);
            nextAfter = tasks[^1].Id;
        }

        return new TimedOk<TaskList>(new TaskList(tasks, tasks.Count, StreamingAvailable: true, nextAfter));
    }

    internal static Ok<StatusResponse> GetStatus(
        TaskStreamMetrics metrics, TaskDatabase database, ILocalSiloDetails silo, IClusterMembershipService membership)
    {
        var silos = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress.ToString()).Order().ToList();
        return TypedResults.Ok(new StatusResponse("ready", database.Provider, "enabled", silo.SiloAddress.ToString(), silos,
            metrics.ActiveStreams, metrics.OpenConnections, metrics.QueryGrains));
    }

    private static ValidationProblem Invalid(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, detail: $"Invalid request parameter: {string.Join(", ", errors.Keys)}.");
}
