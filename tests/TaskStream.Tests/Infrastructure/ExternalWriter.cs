using System.Data.Common;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace TaskStream.Tests.Infrastructure;

/// <summary>What a run of another program printed (one line per returned value), and when it exited.</summary>
public sealed record ExternalRun(IReadOnlyList<string> Lines, long ExitedAt);

/// <summary>
/// Writes to the task store the way another program would, past TaskStream: the <c>sqlite3</c> CLI on the SQLite
/// file (with a busy timeout, since silos write beside it) or <c>psql</c> on the PostgreSQL database, as real
/// processes. Also opens a plain connection of the test's own, for reading what the store says directly.
/// </summary>
public sealed class ExternalWriter
{
    private readonly string? _sqlitePath;
    private readonly NpgsqlConnectionStringBuilder? _postgres;

    private ExternalWriter(string? sqlitePath, NpgsqlConnectionStringBuilder? postgres) => (_sqlitePath, _postgres) = (sqlitePath, postgres);

    public static ExternalWriter Sqlite(string path) => new(path, null);

    public static ExternalWriter Postgres(string connectionString) => new(null, new NpgsqlConnectionStringBuilder(connectionString));

    /// <summary>The CLI's name, for messages.</summary>
    public string Program => _postgres is null ? "sqlite3" : "psql";

    /// <summary>A SQL string literal (both stores double a quote).</summary>
    public static string Literal(string text) => "'" + text.Replace("'", "''") + "'";

    /// <summary>A SQL boolean: both stores take TRUE and FALSE (SQLite stores them as 1 and 0).</summary>
    public static string Literal(bool value) => value ? "TRUE" : "FALSE";

    /// <summary>
    /// Runs <paramref name="sql"/> (one or more statements) in a new CLI process and waits for it to exit; a
    /// failure (non-zero exit) throws with what it printed on stderr.
    /// </summary>
    public async Task<ExternalRun> RunAsync(string sql, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (_postgres is null)
        {
            start.FileName = "sqlite3";
            // sqlite3's busy timeout is 0: without one it fails at once whenever a silo holds the write lock.
            foreach (var argument in new[] { "-bail", "-cmd", ".timeout 5000", _sqlitePath!, sql })
            {
                start.ArgumentList.Add(argument);
            }
        }
        else
        {
            start.FileName = "psql";
            foreach (var argument in new[]
            {
                "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", _postgres.Host!, "-p", _postgres.Port.ToString(),
                "-U", _postgres.Username!, "-d", _postgres.Database!, "-c", sql,
            })
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment["PGPASSWORD"] = _postgres.Password;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{Program} did not start");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        var exitedAt = Stopwatch.GetTimestamp();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Program} exited with {process.ExitCode}: {await error}\nSQL: {sql}");
        }

        return new ExternalRun((await output).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), exitedAt);
    }

    /// <summary>A plain connection to the store, opened: another program's (the test's) own.</summary>
    public async Task<DbConnection> OpenConnectionAsync()
    {
        DbConnection connection = _postgres is null
            ? new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _sqlitePath, DefaultTimeout = 5, Pooling = false }.ToString())
            : new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_postgres.ConnectionString) { Pooling = false }.ToString());
        await connection.OpenAsync();
        return connection;
    }
}
