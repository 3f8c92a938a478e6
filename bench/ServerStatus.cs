namespace TaskStream.Bench;

/// <summary>/status as both targets answer it; the cluster fields are the silo's only.</summary>
public sealed record ServerStatus(string Status, long ActiveStreams, long OpenConnections)
{
    /// <summary>This silo's address, as the <c>end</c> event's <c>silo</c> names it.</summary>
    public string? Silo { get; init; }

    /// <summary>The active silos of the cluster as this silo sees them.</summary>
    public IReadOnlyList<string> Silos { get; init; } = [];

    /// <summary>TaskQuery grain activations on this silo, busy or idle.</summary>
    public long? QueryGrains { get; init; }
}
