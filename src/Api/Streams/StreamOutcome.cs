namespace TaskStream.Api;

/// <summary>How a stream ended: the <c>StreamEnded</c> log line and the streams-ended metric's tag.</summary>
internal enum StreamOutcome
{
    /// <summary>The query ran to its end and the stream closed with <c>end</c>.</summary>
    Completed,

    /// <summary>A resuming client had nothing left: 204.</summary>
    NoContent,

    /// <summary>The client stopped reading and was dropped (<see cref="HeartbeatMonitor"/>).</summary>
    Dropped,

    /// <summary>The client left.</summary>
    Cancelled,

    /// <summary>The host is stopping.</summary>
    Stopped,

    /// <summary>The grain failed; the client reconnects and resumes.</summary>
    Failed,
}

internal static class StreamOutcomeText
{
    /// <summary>The outcome as logs and metrics name it; dashboards and alerts match these words.</summary>
    public static string ToText(this StreamOutcome outcome) => outcome switch
    {
        StreamOutcome.Completed => "completed",
        StreamOutcome.NoContent => "no-content",
        StreamOutcome.Dropped => "dropped",
        StreamOutcome.Cancelled => "cancelled",
        StreamOutcome.Stopped => "stopped",
        StreamOutcome.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
    };
}
