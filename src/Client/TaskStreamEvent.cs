namespace TaskStream.Client;

/// <summary>
/// One event of a task stream. A follower that applies them in order — <see cref="TaskReceived"/> adds or
/// replaces, <see cref="TaskRemoved"/> removes, <see cref="StreamReset"/> clears — holds what the list shows
/// for its filter.
/// </summary>
/// <param name="EventId">
/// The event's SSE id, which the client resumes from: a task id on a finite stream, a change sequence number
/// on a follow stream (the number a write's <c>X-TaskStream-Seq</c> header gives). <c>null</c> for events
/// sent without one (<see cref="StreamEnded"/>, <see cref="StreamReset"/>).
/// </param>
public abstract record TaskStreamEvent(long? EventId);

/// <summary><c>task</c>: a task that matches the filter, as it is now (add it, or replace the one with its id).</summary>
/// <param name="Task">The task.</param>
/// <param name="EventId">See <see cref="TaskStreamEvent.EventId"/>.</param>
public sealed record TaskReceived(TaskItem Task, long? EventId) : TaskStreamEvent(EventId);

/// <summary><c>task-deleted</c>: a task that matched the filter was deleted or no longer matches it (remove it).</summary>
/// <param name="TaskId">The task's id.</param>
/// <param name="EventId">See <see cref="TaskStreamEvent.EventId"/>.</param>
public sealed record TaskRemoved(long TaskId, long? EventId) : TaskStreamEvent(EventId);

/// <summary>
/// <c>live</c>: everything up to this change has been sent; from here on changes arrive as they happen. Sent after
/// a follow stream's snapshot, after a resumed stream's catch-up, and now and then to a follower whose filter
/// skips many changes.
/// </summary>
/// <param name="Count">Events sent on this connection before it.</param>
/// <param name="Silo">The silo whose grain runs the query.</param>
/// <param name="EventId">See <see cref="TaskStreamEvent.EventId"/>.</param>
public sealed record StreamLive(long Count, string Silo, long? EventId) : TaskStreamEvent(EventId);

/// <summary><c>end</c>: a finite stream has sent its last task. The enumeration stops after it.</summary>
/// <param name="Count">Tasks sent on the connection that ended (not on earlier ones the client resumed from).</param>
/// <param name="Silo">The silo whose grain ran the query.</param>
public sealed record StreamEnded(long Count, string? Silo) : TaskStreamEvent(EventId: null);

/// <summary>
/// <c>reset</c>: the server could not resume from this follower's position, so it sends a fresh snapshot and
/// <see cref="StreamLive"/> next. Clear every task you hold.
/// </summary>
/// <param name="Reason"><c>horizon</c> (the change log no longer holds the changes missed) or <c>store</c> (the store was re-created or restored).</param>
public sealed record StreamReset(string Reason) : TaskStreamEvent(EventId: null);
