using System.Globalization;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace TaskStream.Grains.Data;

/// <summary>
/// A connection of the change feed's own that learns when anyone commits a change to the store: PostgreSQL
/// tells it (LISTEN; the triggers NOTIFY with the change's sequence number at commit), SQLite is asked
/// (<c>PRAGMA data_version</c> changes when another connection commits; answering it reads shared memory, not the file),
/// and then its head is read on the same connection.
/// </summary>
internal abstract class StoreWatch : IAsyncDisposable
{
    /// <summary>Waits until the store has changed: returns the newest sequence number announced or read.</summary>
    public abstract Task<long> WaitAsync(TimeSpan poll, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    internal static async Task<StoreWatch> OpenSqliteAsync(string connectionString, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return new SqliteWatch(connection, await SqliteWatch.DataVersionAsync(connection, cancellationToken));
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    internal static async Task<StoreWatch> OpenPostgresAsync(string connectionString, CancellationToken cancellationToken)
    {
        // Keepalives make a connection that silently died fail its wait instead of hanging in it.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { KeepAlive = 10, Pooling = false }.ToString());
        try
        {
            await connection.OpenAsync(cancellationToken);
            var watch = new PostgresWatch(connection);
            await connection.ExecuteAsync(new CommandDefinition("LISTEN " + TaskSchema.NotifyChannel, cancellationToken: cancellationToken));
            return watch;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private sealed class SqliteWatch(SqliteConnection connection, long version) : StoreWatch
    {
        private long _version = version;

        public static Task<long> DataVersionAsync(SqliteConnection connection, CancellationToken cancellationToken) =>
            connection.ExecuteScalarAsync<long>(new CommandDefinition("PRAGMA data_version", cancellationToken: cancellationToken));

        public override async Task<long> WaitAsync(TimeSpan poll, CancellationToken cancellationToken)
        {
            while (true)
            {
                await Task.Delay(poll, cancellationToken);
                var version = await DataVersionAsync(connection, cancellationToken);
                if (version != _version)
                {
                    // A commit by another connection, maybe one this silo has read already: its head tells.
                    _version = version;
                    return await connection.ExecuteScalarAsync<long>(new CommandDefinition(TaskRows.HeadSql, cancellationToken: cancellationToken));
                }
            }
        }

        public override ValueTask DisposeAsync() => connection.DisposeAsync();
    }

    private sealed class PostgresWatch : StoreWatch
    {
        private readonly NpgsqlConnection _connection;
        private long _announced;

        public PostgresWatch(NpgsqlConnection connection)
        {
            _connection = connection;
            // Raised on this connection's reads (inside WaitAsync), one per committed change.
            _connection.Notification += (_, notification) =>
            {
                if (long.TryParse(notification.Payload, NumberStyles.None, CultureInfo.InvariantCulture, out var seq) && seq > _announced)
                {
                    _announced = seq;
                }
            };
        }

        public override async Task<long> WaitAsync(TimeSpan poll, CancellationToken cancellationToken)
        {
            var before = _announced;
            while (_announced == before)
            {
                await _connection.WaitAsync(cancellationToken);
            }

            return _announced;
        }

        public override ValueTask DisposeAsync() => _connection.DisposeAsync();
    }
}
