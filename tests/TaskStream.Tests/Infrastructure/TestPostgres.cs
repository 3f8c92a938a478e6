using Npgsql;

namespace TaskStream.Tests.Infrastructure;

/// <summary>
/// A fresh PostgreSQL database for one fixture, on the server scripts/test.sh starts (connection string in
/// TASKSTREAM_TEST_POSTGRES, or the role that script creates). Dropped again on dispose.
/// </summary>
public sealed class TestPostgres : IAsyncDisposable
{
    private static readonly string Server = Environment.GetEnvironmentVariable("TASKSTREAM_TEST_POSTGRES")
        ?? "Host=127.0.0.1;Port=5432;Username=taskstream;Password=taskstream;Database=postgres";

    private readonly string _name = "ts_test_" + Guid.NewGuid().ToString("N");

    private TestPostgres() => ConnectionString = new NpgsqlConnectionStringBuilder(Server) { Database = _name }.ToString();

    public string ConnectionString { get; }

    public static async Task<TestPostgres> CreateAsync()
    {
        var database = new TestPostgres();
        try
        {
            await using var connection = new NpgsqlConnection(Server);
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database._name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch (NpgsqlException exception)
        {
            throw new InvalidOperationException(
                "PostgreSQL is not reachable: run the README's test command (scripts/test.sh), which starts it. " + exception.Message, exception);
        }

        return database;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        // FORCE ends our own sessions on it, but not an autovacuum worker analysing the freshly seeded tables:
        // that one only a superuser may end, so wait for it to finish. A database left behind is only litter
        // (scripts/test.sh drops leftovers at its next start), never a failed test.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = new NpgsqlConnection(Server);
                await connection.OpenAsync();
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", connection);
                await drop.ExecuteNonQueryAsync();
                return;
            }
            catch (PostgresException) when (attempt < 20)
            {
                await Task.Delay(500);
            }
            catch (PostgresException exception)
            {
                await Console.Error.WriteLineAsync($"Test database {_name} was left behind: {exception.Message}");
                return;
            }
        }
    }
}
