using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using TaskStream.Grains;
using TaskStream.Grains.Data;

namespace TaskStream.Api;

/// <summary>
/// The answers read in one go: <c>GET /tasks</c> (also at <c>/tasks/list</c>), <c>GET /tasks/{id}</c> and <c>GET /status</c>. A list
/// is a task query, run in a query grain as a stream is; one task is a single-row read of the store. Both are bounded by
/// <see cref="ReadLimiter"/>, so they answer while the silo is full of streams.
/// </summary>
internal static class ReadApi
{
    public static IEndpointRouteBuilder MapReads(this IEndpointRouteBuilder app)
    {
        var tasks = app.MapGroup("/tasks");
        // The list where REST clients look for it, and where the seed's clients found it.
        var list = tasks.MapGroup("").WithSummary("A page of tasks")
            .WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(TaskList), ["application/json"])).ProducesProblem(StatusCodes.Status503ServiceUnavailable).DescribesTaskQuery(stream: false);
        list.MapGet("", ListTasks).WithName("ListTasks");
        list.MapGet("/list", ListTasks).WithName("ListTasksAtList");
        // {id} is a string so that a bad id gets a 400 naming it, not a routing 404.
        tasks.MapGet("/{id}", GetTask).WithName("GetTask").WithSummary("One task")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable).DescribesTaskId();
        // HEAD too, for uptime probes that ask without wanting the body (Kestrel sends none for HEAD).
        app.MapMethods("/status", [HttpMethods.Get, HttpMethods.Head], GetStatus).WithName("GetStatus").WithSummary("This silo and its cluster");
        return app;
    }

    internal static async Task<Results<TimedOk<TaskList>, ValidationProblem, ProblemHttpResult>> ListTasks(
        HttpRequest request, QueryGrainPool grains, ReadLimiter reads, IOptions<ListOptions> options, CancellationToken cancellationToken)
    {
        if (!TaskQueryParameters.TryParse(request, forStream: false, out var query, out var errors))
        {
            return Problems.Invalid(errors, "request parameter");
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

    internal static async Task<Results<Ok<TaskItem>, ProblemHttpResult, ValidationProblem>> GetTask(
        string id, HttpResponse response, TaskStore store, ReadLimiter reads, CancellationToken cancellationToken)
    {
        Dictionary<string, string[]> errors = [];
        if (TaskIdPath.Parse(id, errors) is not { } taskId)
        {
            return Problems.Invalid(errors);
        }

        using var permit = await reads.AcquireAsync(cancellationToken);
        if (!permit.IsAcquired)
        {
            return reads.Busy(response);
        }

        return await store.GetAsync(taskId, cancellationToken) is { } found ? TypedResults.Ok(found) : Problems.NotFound(taskId);
    }

    internal static Ok<StatusResponse> GetStatus(
        TaskStreamMetrics metrics, TaskStore store, ILocalSiloDetails silo, IClusterMembershipService membership)
    {
        var silos = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress.ToString()).Order().ToList();
        return TypedResults.Ok(new StatusResponse("ready", store.Provider, "enabled", silo.SiloAddress.ToString(), silos,
            metrics.ActiveStreams, metrics.OpenConnections, metrics.QueryGrains));
    }
}
