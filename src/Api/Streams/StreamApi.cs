using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace TaskStream.Api;

/// <summary>
/// <c>GET /tasks/stream</c>: parse the query (<see cref="TaskQueryParameters"/>), admit the stream
/// (<see cref="StreamCapPolicy"/>), lend it a query grain (<see cref="QueryGrainPool"/>) and relay that grain's
/// tasks (<see cref="TaskEventStream"/>).
/// </summary>
internal static class StreamApi
{
    public static IEndpointRouteBuilder MapStreams(this IEndpointRouteBuilder app)
    {
        var tasks = app.MapGroup("/tasks")
            .WithSummary("Stream tasks as server-sent events")
            .WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, contentTypes: [OpenApiDocument.EventStream]),
                new ProducesResponseTypeMetadata(StatusCodes.Status204NoContent))
            .ProducesProblem(StatusCodes.Status429TooManyRequests).ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .DescribesTaskQuery(stream: true);
        // The seed had two implementations of one contract; here both routes are the same handler. Streams are
        // capped (StreamCapPolicy); the list has its own bound (ReadLimiter), so it answers while the silo is full of streams.
        tasks.MapGet("/stream", StreamTasks).WithName("StreamTasks");
        tasks.MapGet("/stream-function", StreamTasks).WithName("StreamTasksFunction");
        return app;
    }

    internal static Results<TaskEventStream, ValidationProblem, ProblemHttpResult> StreamTasks(
        HttpRequest request, QueryGrainPool grains, StreamCapPolicy caps)
    {
        if (!TaskQueryParameters.TryParse(request, forStream: true, out var query, out var errors))
        {
            return Problems.Invalid(errors, "request parameter");
        }

        if (caps.TryAdmit(request.HttpContext) is { } refused)
        {
            return refused;
        }

        return new TaskEventStream(grains.Rent(), query);
    }
}
