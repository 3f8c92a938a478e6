using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// The JSON body of <c>POST /tasks</c> and <c>PATCH /tasks/{id}</c>, read and checked in full before anything
/// is written. Every mistake is reported under the field it concerns (or <c>body</c> for the JSON as a whole):
/// unknown, repeated, null or mistyped fields, fields that break <see cref="TaskRules"/> (which the writer grain
/// checks again for any caller), malformed or empty JSON.
/// </summary>
internal sealed record TaskWriteBody(string? Title, string? Description, bool? Completed)
{
    /// <summary>The most bytes a write's body may have (enforced by the server through the endpoint's metadata).</summary>
    public const long MaxBytes = 16 * 1024;

    private const string Fields = "title, description, completed";

    public NewTask ToNewTask() => new(Title!, Description ?? "", Completed ?? false);

    public TaskPatch ToPatch() => new(Title, Description, Completed);

    /// <summary>
    /// Reads the request's body. Fails with <c>Refused</c> (415 not JSON, 413 too large) before parsing, or adds
    /// to <paramref name="errors"/> what is wrong with the content.
    /// </summary>
    public static async Task<(TaskWriteBody? Body, ProblemHttpResult? Refused)> ReadAsync(
        HttpRequest request, bool creating, Dictionary<string, string[]> errors, CancellationToken cancellationToken)
    {
        if (!IsJson(request.ContentType))
        {
            CloseConnectionIfBodyMayNotDrain(request.HttpContext);
            return (null, TypedResults.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType,
                detail: $"Send the task as JSON with 'Content-Type: application/json', not '{request.ContentType ?? "no Content-Type"}' "
                    + "(with curl: --json '{\"title\":\"…\"}', not -d)."));
        }

        var reader = request.BodyReader;
        ReadResult read;
        try
        {
            while (!(read = await reader.ReadAsync(cancellationToken)).IsCompleted && read.Buffer.Length <= MaxBytes)
            {
                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }

        try
        {
            // A server that does not enforce the endpoint's size limit still never buffers more than this.
            return read.Buffer.Length > MaxBytes ? (null, TooLarge()) : (Parse(read.Buffer, creating, errors), null);
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
    }

    /// <summary>
    /// For a write refused before its body was read. Kestrel reads (drains) an unread body after the response
    /// to keep the connection, but no further than the endpoint's size limit: a longer body — or a chunked
    /// one, whose length is unknown — means the connection closes after this response. Saying so in the
    /// headers keeps the client from sending its next request on a connection that is about to close.
    /// </summary>
    public static void CloseConnectionIfBodyMayNotDrain(HttpContext http)
    {
        var request = http.Request;
        if (request.ContentLength > MaxBytes || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0))
        {
            http.Response.Headers.Connection = "close";
        }
    }

    /// <summary><c>application/json</c> or <c>application/*+json</c>, in UTF-8 (the only charset JSON allows on the wire).</summary>
    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var media)
        && media.Type.Equals("application", StringComparison.OrdinalIgnoreCase)
        && (media.SubType.Equals("json", StringComparison.OrdinalIgnoreCase) || media.SubType.EndsWith("+json", StringComparison.OrdinalIgnoreCase))
        && (media.Charset.Length == 0 || HeaderUtilities.RemoveQuotes(media.Charset).Equals("utf-8", StringComparison.OrdinalIgnoreCase));

    private static ProblemHttpResult TooLarge() => TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge,
        detail: $"A task write's body may have at most {MaxBytes} bytes.");

    private static TaskWriteBody? Parse(ReadOnlySequence<byte> json, bool creating, Dictionary<string, string[]> errors)
    {
        if (json.IsEmpty)
        {
            errors["body"] = ["is empty; send a JSON object such as {\"title\":\"Buy milk\"}"];
            return null;
        }

        string? title = null, description = null;
        bool? completed = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json);
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                errors["body"] = ["must be a JSON object such as {\"title\":\"Buy milk\"}"];
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                reader.Read();
                if (!seen.Add(name))
                {
                    errors[name] = ["may be given once"];
                }
                else if (name == "title")
                {
                    title = ReadText(ref reader, name, TaskRules.TitleProblem, errors);
                }
                else if (name == "description")
                {
                    description = ReadText(ref reader, name, TaskRules.DescriptionProblem, errors);
                }
                else if (name == "completed")
                {
                    completed = reader.TokenType switch
                    {
                        JsonTokenType.True => true,
                        JsonTokenType.False => false,
                        _ => Error<bool?>(errors, name, reader.TokenType == JsonTokenType.Null ? "must be true or false, not null" : "must be true or false"),
                    };
                }
                else
                {
                    errors[name] = [$"is not a task field; a task has {Fields}"];
                }

                reader.Skip(); // past an object or array value (where a field's value was the wrong type); no-op otherwise
            }

            // Anything after the object other than whitespace is a second JSON value, which the reader refuses.
            reader.Read();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a property name that is not valid UTF-8 or UTF-16 text.
            errors["body"] = [$"is not valid JSON: {e.Message}"];
            return null;
        }

        if (creating && !seen.Contains("title"))
        {
            errors["title"] = ["is required"];
        }
        else if (!creating && seen.Count == 0)
        {
            errors["body"] = [$"must change at least one of {Fields}"];
        }

        return errors.Count == 0 ? new TaskWriteBody(title, description, completed) : null;
    }

    private static string? ReadText(ref Utf8JsonReader reader, string name, Func<string, string?> problem, Dictionary<string, string[]> errors)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            return Error<string>(errors, name, reader.TokenType == JsonTokenType.Null ? "must be a string, not null" : "must be a string");
        }

        string text;
        try
        {
            text = reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            return Error<string>(errors, name, "must be valid Unicode text (no unpaired surrogates or invalid UTF-8)");
        }

        return problem(text) is { } message ? Error<string>(errors, name, message) : text;
    }

    private static T? Error<T>(Dictionary<string, string[]> errors, string name, string message)
    {
        errors[name] = [message];
        return default;
    }
}
