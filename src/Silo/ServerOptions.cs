namespace TaskStream.Silo;

/// <summary>Settings under <c>TaskStream:Server</c>: Kestrel's socket settings.</summary>
internal sealed class ServerOptions
{
    public const string Section = "TaskStream:Server";

    /// <summary>
    /// Kestrel's listen backlog: many SSE clients connect at once (the default of 512 overflowed when thousands did,
    /// docs/benchmarks.md); the kernel caps it at <c>net.core.somaxconn</c>.
    /// </summary>
    public int ListenBacklog { get; set; } = 4096;
}
