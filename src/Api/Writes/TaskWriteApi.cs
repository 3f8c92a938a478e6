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
/// <c>X-TaskStream-Seq</c>, and <c>GET /tasks/{id}</c>. Writes go to the writer grain, at most once per
/// <see cref="IdempotencyKeyHeader"/> when the client sends one; the read goes through a query grain, so the one
/// query builder stays the only reader of tasks.
/// </summary>
internal static class TaskWriteApi
{
    public const string SeqHeader = "X-TaskStream-Seq";

    public static IServiceCollection AddTaskWrites(this IServiceCollection services)
    {
        services.AddOptions<WriteAuthOptions>().BindConfiguration(WriteAuthOptions.Section)
            .BindSingleValue($"{WriteAuthOptions.Section}:WriteTokens", auth => auth.WriteTokens, (auth, tokens) => auth.WriteTokens = tokens)
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
            return Invalid(errors);
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
        var taskId = ParseId(id, errors);
        var key = IdempotencyKeyHeader.Read(http, tokens, errors);
        var (body, refused) = await TaskWriteBody.ReadAsync(http.Request, creating: false, errors, cancellationToken);
        if (refused is not null)
        {
            return refused;
        }

        if (body is null || taskId is null || errors.Count > 0)
        {
            return Invalid(errors);
        }

        var answer = await WriteAsync(http, grains, new TaskWrite.Update(taskId.Value, body.ToPatch()), key);
        return answer switch
        {
            { Outcome: WriteOutcome.KeyReused } => KeyReused(key),
            { Outcome: WriteOutcome.StoreBusy } => StoreBusy(http),
            { Task: { } task } => TypedResults.Ok(task),
            _ => NotFound(taskId.Value),
        };
    }

    internal static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> DeleteTask(
        string id, HttpContext http, IGrainFactory grains, WriteTokens tokens)
    {
        Dictionary<string, string[]> errors = [];
        var taskId = ParseId(id, errors);
        var key = IdempotencyKeyHeader.Read(http, tokens, errors);
        if (taskId is null || errors.Count > 0)
        {
            return Invalid(errors);
        }

        var answer = await WriteAsync(http, grains, new TaskWrite.Delete(taskId.Value), key);
        return answer switch
        {
            { Outcome: WriteOutcome.KeyReused } => KeyReused(key),
            { Outcome: WriteOutcome.StoreBusy } => StoreBusy(http),
            { Seq: not null } => TypedResults.NoContent(),
            _ => NotFound(taskId.Value),
        };
    }

    /// <summary>
    /// Makes the write (with an idempotency key, at most once per key) and sets the headers every answer to it
    /// carries: the change's sequence number, and whether this is the first answer replayed.
    /// </summary>
    private static async Task<WriteAnswer> WriteAsync(HttpContext http, IGrainFactory grains, TaskWrite write, IdempotencyKey? key)
    {
        // The deadline counts from now, before the call may queue behind others: Orleans' call timeout does too.
        var requestedAt = DateTime.UtcNow;
        var answer = await grains.GetGrain<ITaskWriterGrain>(0).WriteAsync(write, key, requestedAt);
        if (answer.Seq is { } seq)
        {
            http.Response.Headers[SeqHeader] = seq.ToString(CultureInfo.InvariantCulture);
        }

        if (answer.Outcome == WriteOutcome.Replayed)
        {
            http.Response.Headers[IdempotencyKeyHeader.ReplayedName] = "true";
        }

        return answer;
    }

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

    private static ProblemHttpResult KeyReused(IdempotencyKey? key) =>
        TypedResults.Problem(statusCode: StatusCodes.Status422UnprocessableEntity,
            detail: $"{IdempotencyKeyHeader.Name} '{key?.Key}' was used for another write (another method, task or field values); a new write needs a new key.");

    private static ProblemHttpResult StoreBusy(HttpContext http)
    {
        http.Response.Headers.RetryAfter = "1";
        return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable,
            detail: "The task store could not take this write in time (another writer held its lock); nothing was written. " +
                $"Retry, with the same {IdempotencyKeyHeader.Name} if you sent one.");
    }

    private static ProblemHttpResult NotFound(long id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, detail: $"There is no task {id}.");

    private static ValidationProblem Invalid(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, detail: $"Invalid request: {string.Join(", ", errors.Keys)}.");
}
