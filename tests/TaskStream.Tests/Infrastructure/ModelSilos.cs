namespace TaskStream.Tests.Infrastructure;

/// <summary>Two silos on one SQLite file, with short pages, paced snapshots and a short change log.</summary>
public sealed class ModelSilos() : SiloPair("sqlite", FollowModelHttpTests.Settings);

/// <summary><see cref="ModelSilos"/> on PostgreSQL.</summary>
public sealed class PostgresModelSilos() : SiloPair("postgres", FollowModelHttpTests.Settings);

[CollectionDefinition(nameof(ModelSilos))]
public sealed class ModelSilosCollection : ICollectionFixture<ModelSilos>;

[CollectionDefinition(nameof(PostgresModelSilos))]
public sealed class PostgresModelSilosCollection : ICollectionFixture<PostgresModelSilos>;
