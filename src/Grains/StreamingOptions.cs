using System.ComponentModel.DataAnnotations;

namespace TaskStream.Grains;

/// <summary>Settings under <c>TaskStream:Streaming</c>: how events are paced and kept alive.</summary>
public sealed class StreamingOptions
{
    public const string Section = "TaskStream:Streaming";

    /// <summary>Pause between two task events, as in the seed; 0 sends as fast as the client reads.</summary>
    [Range(0, 3_600_000)]
    public int EventIntervalMs { get; set; } = 300;

    /// <summary>A <c>:</c> comment line is written whenever nothing else was for this long.</summary>
    [Range(1, 3600)]
    public int HeartbeatSeconds { get; set; } = 15;

    /// <summary>The <c>retry:</c> sent with the first event: how long a client waits before reconnecting.</summary>
    [Range(0, 3_600_000)]
    public int RetryMs { get; set; } = 3000;

    /// <summary>
    /// While follow streams wait, how often each silo reads the newest change sequence number from the store:
    /// the longest a change can wait when every notice of it (the store's, a hint) was lost.
    /// </summary>
    [Range(50, 3_600_000)]
    public int FollowCheckMs { get; set; } = 2000;

    /// <summary>
    /// SQLite: how often each silo asks the store whether another connection committed (<c>PRAGMA data_version</c>,
    /// a read of shared memory): the longest a change written by another program waits before followers look.
    /// PostgreSQL announces commits itself (LISTEN/NOTIFY) and does not use this.
    /// </summary>
    [Range(10, 60_000)]
    public int StorePollMs { get; set; } = 100;

    /// <summary>
    /// How often each silo checks, with a probe of its own, that its change-hint subscription still receives
    /// (it also checks after every change of cluster membership) and subscribes again if not.
    /// </summary>
    [Range(1, 86_400)]
    public int HintCheckSeconds { get; set; } = 30;
}
