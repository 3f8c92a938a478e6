using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// Reads <c>completed</c>, <c>limit</c>, <c>after</c> and (for streams) <c>follow</c> and <c>Last-Event-ID</c> from a request.
/// Every value is checked here, before any grain is called; a bad one is reported under its own name.
/// Unknown parameters are ignored (cache-busters such as <c>_=1712345678</c>), within a bound on the whole query.
/// </summary>
internal static class TaskQueryParameters
{
    public const string LastEventIdHeader = "Last-Event-ID";

    /// <summary>
    /// The longest query string taken, '?' included. Far above any real one; longer is a client's mistake or
    /// abuse, refused with a 400 naming <c>query</c>. Past Kestrel's request-line limit (8 KB) Kestrel answers 414 itself.
    /// </summary>
    public const int MaxQueryLength = 2048;

    /// <summary>The most parameters (each repeat counted) one query string may carry.</summary>
    public const int MaxQueryParameters = 32;

    public static bool TryParse(HttpRequest request, bool forStream, out TaskQuery query, out Dictionary<string, string[]> errors)
    {
        errors = [];
        if (Oversized(request) is { } problem)
        {
            errors["query"] = [problem];
            query = new TaskQuery();
            return false;
        }

        var completed = ParseBoolean(request.Query["completed"], "completed", errors);
        var follow = forStream && ParseBoolean(request.Query["follow"], "follow", errors) == true;
        var limit = ParseNumber(request.Query["limit"], "limit", 1, TaskQuery.MaxLimit,
            "must be a whole number from 1 to 1000000000", errors);
        var after = ParseNumber(request.Query["after"], "after", 0, long.MaxValue,
            "must be a task id: a whole number, 0 or more", errors);
        long? resumeAfter = null;
        if (follow && after is not null)
        {
            // In follow mode the stream's position is a change sequence number, not a task id.
            errors["after"] = ["cannot be combined with follow=true; a follow stream resumes from its Last-Event-ID"];
        }

        if (forStream)
        {
            var header = request.Headers[LastEventIdHeader];
            // An empty Last-Event-ID means "no event seen yet", which is what browsers mean by omitting it.
            if (header.Count > 1 || (header.Count == 1 && !string.IsNullOrWhiteSpace(header[0])))
            {
                resumeAfter = ParseNumber(header, LastEventIdHeader, 0, long.MaxValue,
                    follow ? "must be the id of an event this follow stream sent" : "must be the id of a task event this stream sent", errors);
            }
        }

        query = new TaskQuery(completed, (int?)limit, after ?? 0, resumeAfter, follow);
        return errors.Count == 0;
    }

    private static string? Oversized(HttpRequest request)
    {
        var raw = request.QueryString.Value.AsSpan();
        if (raw.Length > MaxQueryLength)
        {
            return $"must be at most {MaxQueryLength} characters";
        }

        // Separators bound the count from above, so only a query with many of them is counted exactly.
        if (raw.Count('&') >= MaxQueryParameters && request.Query.Sum(parameter => parameter.Value.Count) > MaxQueryParameters)
        {
            return $"may have at most {MaxQueryParameters} parameters";
        }

        return null;
    }

    private static bool? ParseBoolean(StringValues values, string name, Dictionary<string, string[]> errors)
    {
        if (values.Count == 0)
        {
            return null;
        }

        if (values.Count == 1)
        {
            if (string.Equals(values[0], "true", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            if (string.Equals(values[0], "false", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        errors[name] = [values.Count > 1 ? "may be given once" : "must be true or false"];
        return null;
    }

    private static long? ParseNumber(StringValues values, string name, long min, long max, string rule, Dictionary<string, string[]> errors)
    {
        if (values.Count == 0)
        {
            return null;
        }

        if (values.Count > 1)
        {
            errors[name] = ["may be given once"];
            return null;
        }

        // NumberStyles.None: digits only, so "+5", " 5", "5.0" and "1e3" are refused rather than guessed at.
        if (long.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        errors[name] = [rule];
        return null;
    }
}
