using System.Globalization;

namespace TaskStream.Api;

/// <summary>The task id in a path (<c>/tasks/{id}</c>), for the read and for the writes.</summary>
internal static class TaskIdPath
{
    /// <summary>The id, or <c>null</c> with an error naming <c>id</c> added to <paramref name="errors"/>.</summary>
    public static long? Parse(string id, Dictionary<string, string[]> errors)
    {
        // Digits only, as for the query parameters: "+5", " 5" and "5.0" are refused rather than guessed at.
        if (long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0)
        {
            return value;
        }

        errors["id"] = [$"must be a task id: a whole number from 1 to {long.MaxValue}"];
        return null;
    }
}
