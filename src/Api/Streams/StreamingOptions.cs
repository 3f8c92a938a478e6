using System.ComponentModel.DataAnnotations;

namespace TaskStream.Api;

/// <summary>
/// Settings under <c>TaskStream:Streaming</c> that the SSE relay uses: how events are paced and kept alive. The
/// same section's change-feed timing is the silo's (<c>ChangeFeedOptions</c>, in Grains): one section for users,
/// each layer binding the keys it uses.
/// </summary>
internal sealed class StreamingOptions
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
}
