using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// The OpenAPI document at <c>/openapi/v1.json</c>. Statuses and bodies come from each endpoint's metadata; what
/// the handlers read by hand (query parameters, headers, the <c>text/event-stream</c> events) is described here,
/// attached to an endpoint by the <c>Describes…</c> conventions below.
/// </summary>
internal static class OpenApiDocument
{
    public const string Route = "/openapi/{documentName}.json";

    public const string EventStream = "text/event-stream";

    public static IServiceCollection AddTaskStreamOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "TaskStream",
                Version = "v1",
                Description = "Tasks read as JSON or streamed as server-sent events, and written with idempotency keys. Errors are RFC 9457 problem details.",
            };
            return Task.CompletedTask;
        }));

    public static IEndpointRouteBuilder MapTaskStreamOpenApi(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi(Route);
        return app;
    }

    /// <summary>The filter of a list or a stream (<see cref="TaskQueryParameters"/>); a stream adds <c>follow</c>, <c>Last-Event-ID</c> and its events.</summary>
    public static TBuilder DescribesTaskQuery<TBuilder>(this TBuilder endpoint, bool stream)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(Query("completed", "Only completed (true) or open (false) tasks; any case.", new OpenApiSchema { Type = JsonSchemaType.Boolean }));
            operation.Parameters.Add(Query("limit", "The most tasks to send.",
                new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1", Maximum = TaskQuery.MaxLimit.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
            operation.Parameters.Add(Query("after", "Tasks with a greater id only (keyset pagination); not with follow=true.",
                new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64", Minimum = "0", Default = JsonValue.Create(0) }));
            if (!stream)
            {
                return;
            }

            operation.Parameters.Add(Query("follow", "Keep the stream open after the snapshot and send every change (the live feed).",
                new OpenApiSchema { Type = JsonSchemaType.Boolean, Default = JsonValue.Create(false) }));
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = TaskQueryParameters.LastEventIdHeader,
                In = ParameterLocation.Header,
                Description = "Resume after this event id (a task id, or a change sequence number with follow=true); empty means none.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64", Minimum = "0" },
            });

            // One schema per event: what an SSE parser sees as the event's type, id and JSON data.
            OpenApiSchema Event(string type, string description, IOpenApiSchema data) => new()
            {
                Type = JsonSchemaType.Object,
                Description = description,
                Required = new HashSet<string> { "event", "data" },
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["event"] = new OpenApiSchema { Type = JsonSchemaType.String, Const = type },
                    ["id"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The task id; with follow=true, the change sequence number." },
                    ["data"] = data,
                },
            };
            var events = new OpenApiSchema
            {
                Description = "Server-sent events (the first carries `retry`; `:` comments are heartbeats). A resumed stream with nothing left answers 204.",
                OneOf =
                [
                    Event("task", "A task: in the snapshot, or created or changed (follow=true).", await context.GetOrCreateSchemaAsync(typeof(TaskItem), null, cancellationToken)),
                    Event("task-deleted", "A task was deleted (follow=true).", await context.GetOrCreateSchemaAsync(typeof(DeletedTask), null, cancellationToken)),
                    Event("live", "The snapshot or catch-up is sent; changes follow (follow=true).", await context.GetOrCreateSchemaAsync(typeof(StreamLive), null, cancellationToken)),
                    Event("reset", "Drop every task held: a fresh snapshot follows (follow=true).", await context.GetOrCreateSchemaAsync(typeof(StreamReset), null, cancellationToken)),
                    Event("end", "The last event of a finished stream (without follow).", await context.GetOrCreateSchemaAsync(typeof(StreamEnd), null, cancellationToken)),
                ],
            };
            // The 200's media type is in the endpoint's metadata, but the generator drops a media type that has no .NET type.
            if (operation.Responses?.GetValueOrDefault("200") is OpenApiResponse ok)
            {
                ok.Content = new Dictionary<string, OpenApiMediaType> { [EventStream] = new() { Schema = events } };
            }
        });

    /// <summary>The task id in the path: digits only, from 1 (the route takes a string so that a bad id gets a 400).</summary>
    public static TBuilder DescribesTaskId<TBuilder>(this TBuilder endpoint)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>().Where(p => p.Name == "id") ?? [])
            {
                parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64", Minimum = "1" };
            }

            return Task.CompletedTask;
        });

    /// <summary>A write: <c>Idempotency-Key</c> in, <c>X-TaskStream-Seq</c> on the answers that made (or replayed) a change.</summary>
    public static TBuilder DescribesWrite<TBuilder>(this TBuilder endpoint)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = TaskStreamHeaders.IdempotencyKey,
                In = ParameterLocation.Header,
                Description = "Makes the write at most once: a repeat with the same key and write gets the first answer again (with Idempotent-Replayed: true).",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            });
            foreach (var (_, response) in operation.Responses?.Where(r => r.Key.StartsWith('2')) ?? [])
            {
                if (response is OpenApiResponse written)
                {
                    written.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    written.Headers[TaskStreamHeaders.Seq] = new OpenApiHeader
                    {
                        Description = "The change's sequence number: where a follow stream reports it.",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64" },
                    };
                }
            }

            return Task.CompletedTask;
        });

    /// <summary>
    /// The JSON body of a create or a change (<see cref="TaskWriteBody"/>). Not <c>.Accepts</c>: that makes routing refuse
    /// other media types with a 415 before authorization, and the handler's own 415 names the content type it got.
    /// </summary>
    public static TBuilder DescribesTaskBody<TBuilder>(this TBuilder endpoint)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(typeof(TaskWriteBody), null, cancellationToken) },
                },
            });

    private static OpenApiParameter Query(string name, string description, OpenApiSchema schema) =>
        new() { Name = name, In = ParameterLocation.Query, Description = description, Schema = schema };
}
