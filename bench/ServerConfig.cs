namespace TaskStream.Bench;

/// <summary>The two things measured: the TaskStream silo, and the bare Kestrel + Dapper baseline.</summary>
public enum Target
{
    TaskStream,
    Baseline,
}

/// <summary>
/// How to start a server: which database, how many tasks it is seeded with, and the event pacing; for a silo
/// that is one of several in a cluster, which one (<see cref="Member"/>), else it runs alone on ports of its own.
/// </summary>
public sealed record ServerConfig(string DatabasePath, int SampleTasks, int EventIntervalMs, bool LogStreams)
{
    public ClusterMember? Member { get; init; }

    /// <summary>The silo's store on PostgreSQL (Npgsql connection string) instead of the SQLite file; silos only.</summary>
    public string? Postgres { get; init; }

    /// <summary><c>TaskStream:Grains:Placement</c> (<c>local</c> or <c>random</c>), when not the silo's default; silos only.</summary>
    public string? Placement { get; init; }
}

/// <summary>
/// Silo <c>--instance K</c> of a local cluster (localhost membership, instance 0 the primary, which must be up
/// before the others start). The base ports are the cluster's; the silo adds K to each.
/// </summary>
public sealed record ClusterMember(int Instance, int ApiPort, int SiloPort, int GatewayPort, string ClusterId);
