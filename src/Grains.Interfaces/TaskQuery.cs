namespace TaskStream.Grains;

/// <summary>
/// Which tasks a client asked for. The stream is "the first <see cref="Limit"/> tasks with
/// id &gt; <see cref="After"/> matching <see cref="Completed"/>, in id order"; <see cref="ResumeAfter"/>
/// picks up that same stream after the last task a client received (its Last-Event-ID).
/// With <see cref="Follow"/>, the stream is the matching tasks in change-sequence order (the first
/// <see cref="Limit"/> of them), then every later change; <see cref="ResumeAfter"/> is then a change sequence
/// number, and <see cref="After"/> is not used.
/// </summary>
[GenerateSerializer, Immutable, Alias("TaskStream.TaskQuery")]
public sealed record TaskQuery(
    [property: Id(0)] bool? Completed = null,
    [property: Id(1)] int? Limit = null,
    [property: Id(2)] long After = 0,
    [property: Id(3)] long? ResumeAfter = null,
    [property: Id(4)] bool Follow = false)
{
    /// <summary>The largest <see cref="Limit"/> a client may ask for.</summary>
    public const int MaxLimit = 1_000_000_000;
}
