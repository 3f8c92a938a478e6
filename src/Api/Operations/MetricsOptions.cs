namespace TaskStream.Api;

/// <summary>Settings under <c>TaskStream:Metrics</c>.</summary>
internal sealed class MetricsOptions
{
    public const string Section = "TaskStream:Metrics";

    /// <summary>
    /// Export metrics at <c>/metrics</c>. Off, no instrument records anything (a listener makes every one of them
    /// record, per request and per grain message).
    /// </summary>
    public bool Enabled { get; set; } = true;
}
