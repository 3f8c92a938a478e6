using System.Net;

namespace TaskStream.Client;

/// <summary>
/// The server refused a request: an <c>application/problem+json</c> answer (RFC 9457), or any other error status.
/// Validation errors name each bad parameter, field or header in <see cref="Errors"/> (for example <c>limit</c>).
/// </summary>
public sealed class TaskStreamProblemException : HttpRequestException
{
    internal TaskStreamProblemException(HttpStatusCode status, string? title, string? detail, string? type,
        IReadOnlyDictionary<string, string[]> errors, TimeSpan? retryAfter)
        : base(Describe(status, title, detail, errors), inner: null, status)
    {
        Status = (int)status;
        Title = title;
        Detail = detail;
        Type = type;
        Errors = errors;
        RetryAfter = retryAfter;
    }

    /// <summary>The HTTP status, such as 400, 401, 404, 413, 415, 422, 429 or 503.</summary>
    public int Status { get; }

    /// <summary>The problem's short summary (for an answer that is not problem+json, the status's reason phrase).</summary>
    public string? Title { get; }

    /// <summary>What went wrong and what to do about it, as the server explains it.</summary>
    public string? Detail { get; }

    /// <summary>The problem type's URI, if the server gave one.</summary>
    public string? Type { get; }

    /// <summary>Each bad parameter, body field or header (<c>limit</c>, <c>title</c>, <c>Idempotency-Key</c>, …) with what is wrong with it.</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; }

    /// <summary>The answer's <c>Retry-After</c>, if it had one (429 and 503 do).</summary>
    public TimeSpan? RetryAfter { get; }

    private static string Describe(HttpStatusCode status, string? title, string? detail, IReadOnlyDictionary<string, string[]> errors)
    {
        var text = $"{(int)status} {title ?? status.ToString()}";
        if (detail is not null)
        {
            text += $": {detail}";
        }

        return errors.Count == 0 ? text : text + " " + string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}"));
    }
}
