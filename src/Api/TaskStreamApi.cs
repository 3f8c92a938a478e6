using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace TaskStream.Api;

/// <summary>
/// The HTTP face of TaskStream, one folder per feature: <c>Streams/</c> (<see cref="StreamApi"/>), <c>Reads/</c>
/// (<see cref="ReadApi"/>), <c>Writes/</c> (<see cref="TaskWriteApi"/>), <c>Limits/</c> (the settings that cap
/// them), <c>Network/</c> (who a client is) and <c>Contracts/</c> (what goes on the wire). Each query runs in a grain lent to it alone (<see cref="QueryGrainPool"/>),
/// which opens the query's own database connection.
/// </summary>
public static class TaskStreamApi
{
    public static IServiceCollection AddTaskStreamApi(this IServiceCollection services)
    {
        services.AddOptions<ListOptions>().BindConfiguration(ListOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<QueryGrainPoolOptions>().BindConfiguration(QueryGrainPoolOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<StreamingOptions>().BindConfiguration(StreamingOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<LimitsOptions>().BindConfiguration(LimitsOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<StreamCapPolicy>();
        // Who a client is (ClientAddress): forwarded addresses from named proxies only; loopback trust without credentials.
        services.AddOptions<NetworkOptions>().BindConfiguration(NetworkOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<ForwardedHeadersOptions>, TrustedProxies>();
        services.AddSingleton<LoopbackTrust>();
        services.AddSingleton<QueryGrainPool>();
        // First among the providers, so Orleans' own (a reflection lookup each call) is not asked for it.
        services.Insert(0, ServiceDescriptor.Singleton<IGrainInterfaceTypeProvider, EnumerationExtensionType>());
        services.AddSingleton<ReadLimiter>();
        services.AddSingleton<HeartbeatMonitor>();
        services.AddSingleton<TaskEventStream.Services>();
        services.AddTaskWrites();
        services.AddProblemDetails();
        services.AddTaskStreamOpenApi();
        // Status-code pages (404, 405) answer in problem+json whatever the Accept header says, like every other
        // error here: an EventSource sends Accept: text/event-stream, which the default writer would not match.
        services.Configure<StatusCodePagesOptions>(pages => pages.HandleAsync = context =>
            TypedResults.Problem(statusCode: context.HttpContext.Response.StatusCode).ExecuteAsync(context.HttpContext));
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, TaskStreamJsonContext.Default));
        return services;
    }

    public static IEndpointRouteBuilder MapTaskStream(this IEndpointRouteBuilder app) =>
        app.MapStreams().MapReads().MapTaskWrites().MapTaskStreamOpenApi();
}
