namespace TaskStream.Grains;

/// <summary>A task as clients see it.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskItem")]
public sealed record TaskItem(
    [property: Id(0)] long Id,
    [property: Id(1)] string Title,
    [property: Id(2)] string Description,
    [property: Id(3)] bool Completed) : TaskQueryEvent;
