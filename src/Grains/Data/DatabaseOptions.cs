using System.ComponentModel.DataAnnotations;

namespace TaskStream.Grains.Data;

/// <summary>Settings under <c>TaskStream:Database</c>.</summary>
public sealed class DatabaseOptions : IValidatableObject
{
    public const string Section = "TaskStream:Database";

    /// <summary><c>sqlite</c> (a file, shared by silos on one machine) or <c>postgres</c> (silos on several machines).</summary>
    [EnumDataType(typeof(DatabaseProvider), ErrorMessage = Section + ":" + nameof(Provider) + " must be 'sqlite' or 'postgres'.")]
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>The SQLite file; created, with its schema and sample tasks, when missing.</summary>
    [Required]
    public string Path { get; set; } = "tasks.db";

    /// <summary>The PostgreSQL connection string (Npgsql), for <c>Provider = postgres</c>.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>How many tasks a newly created database holds: the seed's five, then generated ones.</summary>
    [Range(5, 100_000_000)]
    public int SampleTasks { get; set; } = 5;

    /// <summary>Rows read per keyset page: the bound on a query's memory.</summary>
    [Range(1, 100_000)]
    public int PageSize { get; set; } = 512;

    /// <summary>
    /// The most task text (UTF-16 bytes of title and description) one page holds: with wide rows a page ends
    /// early, so a stream's buffered memory is bounded in bytes as well as rows.
    /// </summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int PageBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// How many of the newest changes the change log keeps. A follower resuming from an older position gets a
    /// fresh snapshot (after a <c>reset</c> event) instead of the changes it missed.
    /// </summary>
    [Range(1, 1_000_000_000)]
    public long RetainChanges { get; set; } = 100_000;

    /// <summary>
    /// How long after its request arrived a write may still commit; one that cannot (the write lock is held by
    /// another writer, the store is slow) fails and is not made. Kept under Orleans' 30 s call timeout, so no
    /// write commits after its caller was told it failed.
    /// </summary>
    [Range(1, 20)]
    public int WriteTimeoutSeconds { get; set; } = 10;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Provider == DatabaseProvider.Postgres && string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return new ValidationResult(
                $"{Section}:{nameof(ConnectionString)} is required when {Section}:{nameof(Provider)} is 'postgres'.", [nameof(ConnectionString)]);
        }
    }
}

/// <summary>
/// Which store holds the tasks. Settings spell it in any case (<c>sqlite</c>, <c>postgres</c>: configuration binding
/// ignores case); status and logs name it in lower case.
/// </summary>
public enum DatabaseProvider
{
    Sqlite,
    Postgres,
}
