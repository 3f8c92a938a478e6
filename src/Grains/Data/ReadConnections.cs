using System.Data;
using System.Data.Common;

namespace TaskStream.Grains.Data;

/// <summary>
/// The connections the store's reads run on, lent to one read at a time. Microsoft.Data.Sqlite compiles a statement
/// for every new command and keeps it only as long as that command, and compiling the page query cost about as much
/// as running it; so for SQLite this keeps each physical connection open, with the statements it has run prepared
/// (<see cref="ReadConnection.Command"/>), and lends it to the next read. Lending is what ADO.NET's pool does with the
/// physical handle, now with its statements: a lent connection serves one read alone and comes back before that read's
/// rows are handed out, so no query holds a connection while it waits and none sees another's. For PostgreSQL every
/// read takes a new connection from Npgsql's own pool.
/// </summary>
internal sealed class ReadConnections(Func<DbConnection> newConnection, bool keep, int maxIdle, TaskStreamMetrics metrics) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Stack<ReadConnection> _idle = new();
    private bool _disposed;

    /// <summary>An open connection for one read; disposing it gives it back.</summary>
    public async ValueTask<ReadConnection> OpenAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ReadConnection? read = null;
        if (keep)
        {
            lock (_gate)
            {
                _idle.TryPop(out read);
            }
        }

        if (read is null)
        {
            var connection = newConnection();
            try
            {
                await connection.OpenAsync(cancellationToken);
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }

            read = new ReadConnection(this, connection, prepare: keep);
        }

        metrics.ConnectionTaken();
        return read;
    }

    internal async ValueTask ReturnAsync(ReadConnection read)
    {
        metrics.ConnectionGivenBack();
        if (keep && read.Connection.State == ConnectionState.Open)
        {
            lock (_gate)
            {
                if (!_disposed && _idle.Count < maxIdle)
                {
                    _idle.Push(read);
                    return;
                }
            }
        }

        await read.CloseAsync();
    }

    public async ValueTask DisposeAsync()
    {
        ReadConnection[] idle;
        lock (_gate)
        {
            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
        }

        foreach (var read in idle)
        {
            await read.CloseAsync();
        }
    }
}

/// <summary>One read's connection, lent by <see cref="ReadConnections"/>: disposing it gives it back.</summary>
internal sealed class ReadConnection(ReadConnections owner, DbConnection connection, bool prepare) : IAsyncDisposable
{
    private readonly Dictionary<string, DbCommand> _commands = [];

    public DbConnection Connection => connection;

    /// <summary>
    /// The command that runs <paramref name="sql"/> with these parameter values, always named in the same order for the
    /// same SQL. Made (and for SQLite prepared) the first time this connection runs that SQL, and reused after that.
    /// </summary>
    public DbCommand Command(string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, _) in parameters)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = name;
                command.Parameters.Add(parameter);
            }

            if (prepare)
            {
                command.Prepare();
            }

            _commands.Add(sql, command);
        }

        for (var i = 0; i < parameters.Length; i++)
        {
            command.Parameters[i].Value = parameters[i].Value ?? DBNull.Value;
        }

        return command;
    }

    public ValueTask DisposeAsync() => owner.ReturnAsync(this);

    internal async ValueTask CloseAsync()
    {
        foreach (var command in _commands.Values)
        {
            await command.DisposeAsync();
        }

        await connection.DisposeAsync();
    }
}
