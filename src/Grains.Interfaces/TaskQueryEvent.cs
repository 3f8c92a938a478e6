namespace TaskStream.Grains;

/// <summary>
/// What a query grain streams. A snapshot query: a <see cref="TaskItem"/> per matching task, then one
/// <see cref="QueryCompleted"/>. A follow query: <see cref="TaskChanged"/> / <see cref="TaskDeleted"/> in
/// change-sequence order, one <see cref="FollowingLive"/> once it has caught up, and then changes as they happen.
/// </summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskQueryEvent")]
public abstract record TaskQueryEvent;

/// <summary>The last event of a query that ran to its end: which silo's grain ran it.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.QueryCompleted")]
public sealed record QueryCompleted([property: Id(0)] string Silo) : TaskQueryEvent;

/// <summary>Follow mode: a matching task as of change <paramref name="Seq"/> (created, updated, or part of the snapshot).</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskChanged")]
public sealed record TaskChanged([property: Id(0)] long Seq, [property: Id(1)] TaskItem Task) : TaskQueryEvent;

/// <summary>Follow mode: task <paramref name="Id"/> was deleted, or stopped matching the filter, at change <paramref name="Seq"/>.</summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskDeleted")]
public sealed record TaskDeleted([property: Id(0)] long Seq, [property: Id(1)] long Id) : TaskQueryEvent;

/// <summary>
/// Follow mode: the client's position cannot be resumed from (the change log no longer keeps the changes after
/// it, or the store never had it), so a fresh snapshot follows: the client must drop what it holds first.
/// </summary>
[GenerateSerializer, Immutable, Alias("TaskStream.FollowReset")]
public sealed record FollowReset([property: Id(0)] string Reason) : TaskQueryEvent
{
    /// <summary>The position is older than the oldest change the log keeps.</summary>
    public const string BeyondHorizon = "horizon";

    /// <summary>The position is not this store's: newer than its newest change (re-created, or restored from a backup).</summary>
    public const string StoreChanged = "store";
}

/// <summary>
/// Follow mode: everything up to change <paramref name="Seq"/> has been streamed (the snapshot, or what a
/// resuming client missed); later changes follow as they happen. <paramref name="Silo"/> runs the query.
/// </summary>
[GenerateSerializer, Immutable, Alias("TaskStream.FollowingLive")]
public sealed record FollowingLive([property: Id(0)] long Seq, [property: Id(1)] string Silo) : TaskQueryEvent;
