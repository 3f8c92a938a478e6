using System.ComponentModel.DataAnnotations;

namespace TaskStream.Grains.Data;

/// <summary>Settings under <c>TaskStream:Database</c>.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "TaskStream:Database";

    /// <summary><c>sqlite</c> (a file, shared by silos on one machine) or <c>postgres</c> (silos on several machines).</summary>
    [RegularExpression("^(sqlite|postgres)$", ErrorMessage = "TaskStream:Database:Provider must be 'sqlite' or 'postgres'.")]
    public string Provider { get; set; } = "sqlite";

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
}
