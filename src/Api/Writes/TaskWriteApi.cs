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
/// <c>X-TaskStream-Seq</c>: authorized (<see cref="WriteAuthorization"/>), rate limited (<see cref="WriteRateLimitPolicy"/>),
/// read (<see cref="TaskWriteBody"/>) and sent to the writer grain, at most once per <see cref="IdempotencyKeyHeader"/>
/// when the client sends one.
/// </summary>
internal static class TaskWriteApi
{
    public static IServiceCollection AddTaskWrites(this IServiceCollection services)
    {
        services.AddOptions<WriteAuthOptions>().BindConfiguration(WriteAuthOptions.Section)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<WriteTokens>();
        services.AddRateLimiter(limits => limits.AddPolicy<string, WriteRateLimitPolicy>(WriteRateLimitPolicy.Name));
        return services;
    }

    public static IEndpointRouteBuilder MapTaskWrites(this IEndpointRouteBuilder app)
    {
        var writes = app.MapGroup("/tasks")
            .AddEndpointFilter<WriteAuthorization>()
            .RequireRateLimiting(WriteRateLimitPolicy.Name)
            .WithMetadata(new RequestSizeLimitAttribute(TaskWriteBody.MaxBytes))
            .ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable).DescribesWrite();
        writes.MapPost("", CreateTask).WithName("CreateTask").WithSummary("Create a task")
            .DescribesTaskBody(creating: true).ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        writes.MapPatch("/{id}", UpdateTask).WithName("UpdateTask").WithSummary("Change a task's fields").DescribesTaskId()
            .DescribesTaskBody(creating: false).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        writes.MapDelete("/{id}", DeleteTask).WithName("DeleteTask").WithSummary("Delete a task").DescribesTaskId()
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    internal static async Task<Results<Created<TaskItem>, ValidationProblem, ProblemHttpResult>> CreateTask(
        HttpContext http, IGrainFactory grains, WriteTokens tokens, CancellationToken cancellationToken)
    {
        Dictionary<string, string[]> errors = [];
        var key = IdempotencyKeyHeader.Read(http, tokens, errors);
        var (body, refused) = await TaskWriteBody.ReadAsync(http.Request, creating: true, errors, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        if (body is null || errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var answer = await WriteAsync(http, grains, new TaskWrite.Create(body.ToNewTask()), key);
        return answer switch
        {
            { Outcome: WriteOutcome.KeyReused } => KeyReused(key),
            { Outcome: WriteOutcome.StoreBusy } => StoreBusy(http),
            _ => TypedResults.Created($"/tasks/{answer.Task!.Id}", answer.Task),
        };
    }

    internal static async Task<Results<Ok<TaskItem>, ValidationProblem, ProblemHttpResult>> UpdateTask(
        string id, HttpContext http, IGrainFactory grains, WriteTokens tokens, CancellationToken cancellationToken)
    {
        Dictionary<string, string[]> errors = [];
        var taskId = TaskIdPath.Parse(id, errors);
        var key = IdempotencyKeyHeader.Read(http, tokens, errors);
        var (body, refused) = await TaskWriteBody.ReadAsync(http.Request, creating: false, errors, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        if (body is null || taskId is null || errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var answer = await WriteAsync(http, grains, new TaskWrite.Update(taskId.Value, body.ToPatch()), key);
        return answer switch
        {
            { Outcome: WriteOutcome.KeyReused } => KeyReused(key),
            { Outcome: WriteOutcome.StoreBusy } => StoreBusy(http),
            { Task: { } task } => TypedResults.Ok(task),
            _ => Problems.NotFound(taskId.Value),
        };
    }

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> DeleteTask(
        string id, HttpContext http, IGrainFactory grains, WriteTokens tokens)
    {
        Dictionary<string, string[]> errors = [];
        var taskId = TaskIdPath.Parse(id, errors);
        var key = IdempotencyKeyHeader.Read(http, tokens, errors);
        if (taskId is null || errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var answer = await WriteAsync(http, grains, new TaskWrite.Delete(taskId.Value), key);
        return answer switch
        {
            { Outcome: WriteOutcome.KeyReused } => KeyReused(key),
            { Outcome: WriteOutcome.StoreBusy } => StoreBusy(http),
            { Seq: not null } => TypedResults.NoContent(),
            _ => Problems.NotFound(taskId.Value),
        };
    }

    /// <summary>
    /// Makes the write (with an idempotency key, at most once per key) and sets the headers every answer to it
    /// carries: the change's sequence number, and whether this is the first answer replayed.
    /// </summary>
    /// <summary>
    /// Calls the writer grain. Right after a silo crashed, until the cluster has declared it dead (a few seconds),
    /// Orleans may fail to address the call at all (the dead silo owned part of the grain directory): such a call
    /// never reached a grain, so it is sent again, within the write's deadline; past it, the client gets the 503.
    /// </summary>
    private static async Task<WriteAnswer> CallWriterAsync(IGrainFactory grains, TaskWrite write, IdempotencyKey? key, DateTime requestedAt)
    {
        while (true)
        {
            try
            {
                return await grains.GetGrain<ITaskWriterGrain>(0).WriteAsync(write, key, requestedAt);
            }
            catch (OrleansMessageRejectionException) when (DateTime.UtcNow - requestedAt < RetryUnaddressedFor)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250));
            }
            catch (OrleansMessageRejectionException)
            {
                return new WriteAnswer(WriteOutcome.StoreBusy, null, null);
            }
        }
    }

    private static readonly TimeSpan RetryUnaddressedFor = TimeSpan.FromSeconds(8);

    private static async Task<WriteAnswer> WriteAsync(HttpContext http, IGrainFactory grains, TaskWrite write, IdempotencyKey? key)
    {
        // The deadline counts from now, before the call may queue behind others: Orleans' call timeout does too.
        var requestedAt = DateTime.UtcNow;
        var answer = await CallWriterAsync(grains, write, key, requestedAt);
        if (answer.Seq is { } seq)
        {
            http.Response.Headers[TaskStreamHeaders.Seq] = seq.ToString(CultureInfo.InvariantCulture);
        }

        if (answer.Outcome == WriteOutcome.Replayed)
        {
            http.Response.Headers[TaskStreamHeaders.IdempotentReplayed] = "true";
        }

        return answer;
    }

    private static ProblemHttpResult KeyReused(IdempotencyKey? key) =>
        TypedResults.Problem(statusCode: StatusCodes.Status422UnprocessableEntity,
            detail: $"{TaskStreamHeaders.IdempotencyKey} '{key?.Key}' was used for another write (another method, task or field values); a new write needs a new key.");

    private static ProblemHttpResult StoreBusy(HttpContext http)
    {
        http.Response.Headers.RetryAfter = "1";
        return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable,
            detail: "This write could not be made in time (another writer held the store's lock, or the cluster was still recovering from a lost silo); nothing was written. " +
                $"Retry, with the same {TaskStreamHeaders.IdempotencyKey} if you sent one.");
    }
}
