namespace TaskStream.Grains;

/// <summary>What a query grain streams: a <see cref="TaskItem"/> per matching task, then one <see cref="QueryCompleted"/>.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskQueryEvent")]
public abstract record TaskQueryEvent;

/// <summary>The last event of a query that ran to its end: which silo's grain ran it.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.QueryCompleted")]
public sealed record QueryCompleted([property: Id(0)] string Silo) : TaskQueryEvent;
