using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// Task writes (<c>POST</c>, <c>PATCH</c>, <c>DELETE</c>), each answered with the change's sequence number in
/// <c>X-TaskStream-Seq</c>, and <c>GET /tasks/{id}</c>. Writes go to the writer grain; the read goes through a
/// query grain, so the one query builder stays the only reader of tasks.
/// </summary>
public static class TaskWriteApi
{
    public const string SeqHeader = "X-TaskStream-Seq";

    public static IServiceCollection AddTaskWrites(this IServiceCollection services)
    {
        services.AddOptions<WriteAuthOptions>().BindConfiguration(WriteAuthOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<WriteLimitOptions>().BindConfiguration(WriteLimitOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<WriteTokens>();
        services.AddRateLimiter(limits => limits.AddPolicy<string, WriteRateLimitPolicy>(WriteRateLimitPolicy.Name));
        return services;
    }

    public static IEndpointRouteBuilder MapTaskWrites(this IEndpointRouteBuilder app)
    {
        var tasks = app.MapGroup("/tasks");
        // {id} is a string so that a bad id gets a 400 naming it, not a routing 404.
        tasks.MapGet("/{id}", GetTask);

        var writes = tasks.MapGroup("")
            .AddEndpointFilter<WriteAuthorization>()
            .RequireRateLimiting(WriteRateLimitPolicy.Name)
            .WithMetadata(new RequestSizeLimitAttribute(TaskWriteBody.MaxBytes));
        writes.MapPost("", CreateTask);
        writes.MapPatch("/{id}", UpdateTask);
        writes.MapDelete("/{id}", DeleteTask);
        return app;
    }

    internal static async Task<Results<Ok<TaskItem>, ProblemHttpResult, ValidationProblem>> GetTask(
        string id, HttpResponse response, QueryGrainPool grains, ReadLimiter reads, CancellationToken cancellationToken)
    {
        Dictionary<string, string[]> errors = [];
        if (ParseId(id, errors) is not { } taskId)
        {
            return Invalid(errors);
        }

        using var permit = await reads.AcquireAsync(cancellationToken);
        if (!permit.IsAcquired)
        {
            return reads.Busy(response);
        }

        var tasks = await grains.ReadTasksAsync(new TaskQuery(After: taskId - 1, Limit: 1), batchSize: 100, cancellationToken);
        return tasks is [var found] && found.Id == taskId ? TypedResults.Ok(found) : NotFound(taskId);
    }

    internal static async Task<Results<Created<TaskItem>, ValidationProblem, ProblemHttpResult>> CreateTask(
        HttpContext http, IGrainFactory grains, CancellationToken cancellationToken)
    {
        Dictionary<string, string[]> errors = [];
        var (body, refused) = await TaskWriteBody.ReadAsync(http.Request, creating: true, errors, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        if (body is null)
        {
            return Invalid(errors);
        }

        var written = await Writer(grains).CreateAsync(body.ToNewTask());
        SetSeq(http, written.Seq);
        return TypedResults.Created($"/tasks/{written.Task.Id}", written.Task);
    }

    internal static async Task<Results<Ok<TaskItem>, ValidationProblem, ProblemHttpResult>> UpdateTask(
        string id, HttpContext http, IGrainFactory grains, CancellationToken cancellationToken)
    {
        Dictionary<string, string[]> errors = [];
        var taskId = ParseId(id, errors);
        var (body, refused) = await TaskWriteBody.ReadAsync(http.Request, creating: false, errors, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        if (body is null || taskId is null)
        {
            return Invalid(errors);
        }

        if (await Writer(grains).UpdateAsync(taskId.Value, body.ToPatch()) is not { } written)
        {
            return NotFound(taskId.Value);
        }

        SetSeq(http, written.Seq);
        return TypedResults.Ok(written.Task);
    }

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> DeleteTask(
        string id, HttpContext http, IGrainFactory grains)
    {
        Dictionary<string, string[]> errors = [];
        if (ParseId(id, errors) is not { } taskId)
        {
            return Invalid(errors);
        }

        if (await Writer(grains).DeleteAsync(taskId) is not { } seq)
        {
            return NotFound(taskId);
        }

        SetSeq(http, seq);
        return TypedResults.NoContent();
    }

    private static ITaskWriterGrain Writer(IGrainFactory grains) => grains.GetGrain<ITaskWriterGrain>(0);

    private static long? ParseId(string id, Dictionary<string, string[]> errors)
    {
        // Digits only, as for the query parameters: "+5", " 5" and "5.0" are refused rather than guessed at.
        if (long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0)
        {
            return value;
        }

        errors["id"] = [$"must be a task id: a whole number from 1 to {long.MaxValue}"];
        return null;
    }

    private static void SetSeq(HttpContext http, long seq) =>
        http.Response.Headers[SeqHeader] = seq.ToString(CultureInfo.InvariantCulture);

    private static ProblemHttpResult NotFound(long id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, detail: $"There is no task {id}.");

    private static ValidationProblem Invalid(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, detail: $"Invalid request: {string.Join(", ", errors.Keys)}.");
}
