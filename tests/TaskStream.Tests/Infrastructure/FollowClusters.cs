namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// Two silos on one SQLite store of 20 tasks, read four rows a page, with follow queries and writes on both.
/// Followers check the store only once a minute: changes reach them within the tests' time through hints.
/// </summary>
public class FollowCluster(string provider) : GrainCluster(provider, silos: 2, taskCount: 20, pageSize: 4,
    ("TaskStream:Streaming:FollowCheckMs", "60000"));

public sealed class SqliteFollowCluster() : FollowCluster("sqlite");

public sealed class PostgresFollowCluster() : FollowCluster("postgres");

[CollectionDefinition(nameof(SqliteFollowCluster))]
public sealed class SqliteFollowClusterCollection : ICollectionFixture<SqliteFollowCluster>;

[CollectionDefinition(nameof(PostgresFollowCluster))]
public sealed class PostgresFollowClusterCollection : ICollectionFixture<PostgresFollowCluster>;

/// <summary>One silo whose followers check the store every half second.</summary>
public sealed class CheckingFollowCluster() : GrainCluster("sqlite", silos: 1, taskCount: 20, pageSize: 4,
    ("TaskStream:Streaming:FollowCheckMs", "500"));

[CollectionDefinition(nameof(CheckingFollowCluster))]
public sealed class CheckingFollowClusterCollection : ICollectionFixture<CheckingFollowCluster>;

/// <summary>
/// Two silos that check their own hint path every second and hardly look at the store (its commits once a minute,
/// its head every ten), so that what a silo hears of the other's writes, it hears through hints.
/// </summary>
public sealed class HintCheckingCluster() : GrainCluster("sqlite", silos: 2, taskCount: 20, pageSize: 4,
    ("TaskStream:Streaming:HintCheckSeconds", "1"), ("TaskStream:Streaming:FollowCheckMs", "600000"),
    ("TaskStream:Streaming:StorePollMs", "60000"));

[CollectionDefinition(nameof(HintCheckingCluster))]
public sealed class HintCheckingClusterCollection : ICollectionFixture<HintCheckingCluster>;
