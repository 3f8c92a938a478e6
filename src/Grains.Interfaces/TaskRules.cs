using System.Globalization;

namespace TaskStream.Grains;

/// <summary>
/// What a task write may hold. The HTTP API reports a broken rule under the field's name (a 400); the writer
/// grain refuses a write that breaks one (an <see cref="ArgumentException"/>), whoever calls it. Lengths count
/// text elements (what a reader sees as one character: an emoji or an accented letter is one), not UTF-16 code units.
/// </summary>
public static class TaskRules
{
    public const int MaxTitleLength = 200;
    public const int MaxDescriptionLength = 2000;

    /// <summary>What is wrong with a title, or <c>null</c> when it is fine.</summary>
    public static string? TitleProblem(string title) => string.IsNullOrWhiteSpace(title)
        ? $"must have 1 to {MaxTitleLength} characters, not only whitespace"
        : LengthProblem(title, MaxTitleLength);

    /// <summary>What is wrong with a description, or <c>null</c> when it is fine.</summary>
    public static string? DescriptionProblem(string description) => LengthProblem(description, MaxDescriptionLength);

    /// <summary>Throws when <paramref name="write"/> breaks a rule: a missing or bad field, or an id below 1.</summary>
    public static void Check(TaskWrite write)
    {
        switch (write)
        {
            case TaskWrite.Create { Task: var task }:
                ArgumentNullException.ThrowIfNull(task, nameof(write));
                CheckText("title", task.Title, TitleProblem);
                CheckText("description", task.Description, DescriptionProblem);
                break;
            case TaskWrite.Update { Id: var id, Patch: var patch }:
                CheckId(id);
                ArgumentNullException.ThrowIfNull(patch, nameof(write));
                // null leaves the field as it is
                if (patch.Title is { } title)
                {
                    CheckText("title", title, TitleProblem);
                }

                if (patch.Description is { } description)
                {
                    CheckText("description", description, DescriptionProblem);
                }

                break;
            case TaskWrite.Delete { Id: var id }:
                CheckId(id);
                break;
            default:
                throw new ArgumentException("Not a task write.", nameof(write));
        }
    }

    private static void CheckId(long id)
    {
        if (id < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, "A task id is 1 or more.");
        }
    }

    private static void CheckText(string field, string? text, Func<string, string?> problem)
    {
        if ((text is null ? "must not be null" : problem(text)) is { } message)
        {
            throw new ArgumentException($"The task's {field} {message}.", field);
        }
    }

    private static string? LengthProblem(string text, int maxLength)
    {
        var length = new StringInfo(text).LengthInTextElements;
        return length > maxLength ? $"must have at most {maxLength} characters (it has {length})" : null;
    }
}
