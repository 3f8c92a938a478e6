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

    /// <summary>The security scheme of writes: a bearer token from <c>TaskStream:Auth:WriteTokens</c>.</summary>
    public const string WriteToken = "WriteToken";

    public static IServiceCollection AddTaskStreamOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options => options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "TaskStream",
                Version = "v1",
                Description = "Tasks read as JSON or streamed as server-sent events, and written with idempotency keys. Errors are RFC 9457 problem details.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[WriteToken] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "One of TaskStream:Auth:WriteTokens. Without tokens configured, writes need none but are accepted from the silo's own machine only.",
            };
            DescribeRetryAfter(document);
            return Task.CompletedTask;
        }));

    // Every 429 and 503 here says when to come back: the rate limits, the stream and read caps, a write that timed out.
    private static void DescribeRetryAfter(Microsoft.OpenApi.OpenApiDocument document)
    {
        var refusals = document.Paths.Values.SelectMany(path => path.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>())
            .SelectMany(operation => operation.Responses ?? [])
            .Where(response => response.Key is "429" or "503").Select(response => response.Value).OfType<OpenApiResponse>();
        foreach (var refusal in refusals)
        {
            AddHeader(refusal, "Retry-After", "Seconds to wait before trying again.", new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1" });
        }
    }

    private static void AddHeader(OpenApiResponse response, string name, string description, OpenApiSchema schema)
    {
        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers[name] = new OpenApiHeader { Description = description, Schema = schema };
    }

    public static IEndpointRouteBuilder MapTaskStreamOpenApi(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi(Route);
        app.MapTaskStreamApiReference();
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

            // A resumed stream with nothing left (the generator drops the 204 of the endpoint's metadata beside the 200).
            operation.Responses?.TryAdd("204", new OpenApiResponse { Description = "Resumed (Last-Event-ID or after) with nothing left: an EventSource stops." });
            foreach (var answer in new[] { "200", "204" }.Select(status => operation.Responses?.GetValueOrDefault(status)).OfType<OpenApiResponse>())
            {
                AddHeader(answer, TaskStreamHeaders.Silo, "The silo that relays this stream.", new OpenApiSchema { Type = JsonSchemaType.String });
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

    /// <summary>
    /// A write: its bearer token (or none, from the silo's own machine), <c>Idempotency-Key</c> in, <c>X-TaskStream-Seq</c> on
    /// the answers that made (or replayed) a change, <c>Idempotent-Replayed</c> on a replayed answer (a first 404 is replayed too).
    /// </summary>
    public static TBuilder DescribesWrite<TBuilder>(this TBuilder endpoint)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.AddOpenApiOperationTransformer((operation, context, _) =>
        {
            // Either the token, or nothing (the empty requirement): a loopback client may write without one until tokens are configured.
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(WriteToken, context.Document)] = [] }, new OpenApiSecurityRequirement()];
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = TaskStreamHeaders.IdempotencyKey,
                In = ParameterLocation.Header,
                Description = "Makes the write at most once: a repeat with the same key and write gets the first answer again (with Idempotent-Replayed: true).",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String },
            });
            foreach (var (status, response) in operation.Responses ?? [])
            {
                if (response is OpenApiResponse answer && (status[0] == '2' || status == "404"))
                {
                    AddHeader(answer, TaskStreamHeaders.IdempotentReplayed, "true when this is the first answer to the same Idempotency-Key, replayed; nothing was written.",
                        new OpenApiSchema { Type = JsonSchemaType.String, Enum = [JsonValue.Create("true")] });
                }

                if (response is OpenApiResponse written && status[0] == '2')
                {
                    AddHeader(written, TaskStreamHeaders.Seq, "The change's sequence number: where a follow stream reports it.",
                        new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64" });
                }
            }

            return Task.CompletedTask;
        });

    /// <summary>
    /// The JSON body of a create (<paramref name="creating"/>: <c>title</c> required) or a change (any of the fields, at least
    /// one), as <see cref="TaskWriteBody"/> reads it: no other fields, no nulls. Not <c>.Accepts</c>: that makes routing refuse
    /// other media types with a 415 before authorization, and the handler's own 415 names the content type it got.
    /// </summary>
    public static TBuilder DescribesTaskBody<TBuilder>(this TBuilder endpoint, bool creating)
        where TBuilder : IEndpointConventionBuilder =>
        endpoint.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            // TaskRules' limits. JSON Schema counts code points, TaskStream text elements (an emoji with its modifiers is one).
            var body = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                AdditionalPropertiesAllowed = false,
                Required = creating ? new HashSet<string> { "title" } : null,
                MinProperties = creating ? null : 1,
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["title"] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.String, MinLength = 1, MaxLength = TaskRules.MaxTitleLength,
                        Description = $"1 to {TaskRules.MaxTitleLength} characters (text elements), not only whitespace.",
                    },
                    ["description"] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.String, MaxLength = TaskRules.MaxDescriptionLength,
                        Description = $"At most {TaskRules.MaxDescriptionLength} characters (text elements).",
                        Default = creating ? JsonValue.Create("") : null,
                    },
                    ["completed"] = new OpenApiSchema { Type = JsonSchemaType.Boolean, Default = creating ? JsonValue.Create(false) : null },
                },
            };
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = true,
                Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = body } },
            };
            return Task.CompletedTask;
        });

    private static OpenApiParameter Query(string name, string description, OpenApiSchema schema) =>
        new() { Name = name, In = ParameterLocation.Query, Description = description, Schema = schema };
}
