using System.ComponentModel.DataAnnotations;

namespace TaskStream.Grains;

/// <summary>
/// Settings under <c>TaskStream:Streaming</c> that the change feed uses: when follow queries look at the store
/// again, and how many of the newest change rows each silo keeps for them. (The section's pacing and heartbeat
/// keys are the HTTP relay's own options.)
/// </summary>
internal sealed class ChangeFeedOptions
{
    public const string Section = "TaskStream:Streaming";

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

    /// <summary>
    /// The most change rows each silo's change window keeps in memory for its followers. A follower further behind
    /// reads the store itself, so a larger window saves store reads after bursts at the cost of memory; the bound
    /// is whichever of this and <see cref="FeedWindowBytes"/> is reached first.
    /// </summary>
    [Range(1, 10_000_000)]
    public int FeedWindowRows { get; set; } = 4096;

    /// <summary>The most task text the window keeps, counted as a page's budget is (UTF-16 bytes, plus 64 a row).</summary>
    [Range(1024, 1L << 34)]
    public long FeedWindowBytes { get; set; } = 8L * 1024 * 1024;
}
