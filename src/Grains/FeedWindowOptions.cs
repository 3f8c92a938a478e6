using System.ComponentModel.DataAnnotations;

namespace TaskStream.Grains;

/// <summary>
/// Settings under <c>TaskStream:Streaming</c> for each silo's change window: how many of the newest change rows
/// it keeps in memory for its followers. A follower further behind reads the store itself, so a larger window
/// saves store reads after bursts at the cost of memory; the bound is whichever of the two is reached first.
/// </summary>
public sealed class FeedWindowOptions
{
    public const string Section = "TaskStream:Streaming";

    /// <summary>The most change rows the window keeps.</summary>
    [Range(1, 10_000_000)]
    public int FeedWindowRows { get; set; } = 4096;

    /// <summary>The most task text the window keeps, counted as a page's budget is (UTF-16 bytes, plus 64 a row).</summary>
    [Range(1024, 1L << 34)]
    public long FeedWindowBytes { get; set; } = 8L * 1024 * 1024;
}
