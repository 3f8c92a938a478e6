using System.Data;
using System.Diagnostics.Metrics;

namespace TaskStream.Grains;

/// <summary>
/// Live counts for this silo, read by <c>/status</c> and published on the <c>TaskStream</c> meter.
/// </summary>
public sealed class TaskStreamMetrics
{
    public const string MeterName = "TaskStream";

    private long _activeStreams;
    private long _openConnections;
    private long _queryGrains;
    private long _runningQueries;
    private long _refusedBySiloCap;
    private long _refusedByClientCap;
    private long _sendTimeouts;

    public TaskStreamMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableUpDownCounter("taskstream.streams.active", () => ActiveStreams,
            "{stream}", "SSE streams this silo is relaying now.");
        meter.CreateObservableUpDownCounter("taskstream.db.connections.open", () => OpenConnections,
            "{connection}", "Database connections open in this silo's query grains.");
        meter.CreateObservableUpDownCounter("taskstream.queries.running", () => RunningQueries,
            "{query}", "Queries whose grain iterator is running (between its first row and its cleanup).");
        meter.CreateObservableUpDownCounter("taskstream.grains.query.active", () => QueryGrains,
            "{activation}", "TaskQuery grain activations on this silo, busy or idle.");
        meter.CreateObservableCounter("taskstream.streams.refused", () => new[]
            {
                new Measurement<long>(RefusedBySiloCap, new KeyValuePair<string, object?>("limit", "silo")),
                new Measurement<long>(RefusedByClientCap, new KeyValuePair<string, object?>("limit", "client")),
            },
            "{stream}", "Streams refused by TaskStream:Limits:MaxStreams (limit=silo, 503) or MaxStreamsPerClient (limit=client, 429).");
        meter.CreateObservableCounter("taskstream.streams.send_timeouts", () => SendTimeouts,
            "{stream}", "Streams dropped because a send waited longer than TaskStream:Limits:SendTimeoutSeconds.");
    }

    public long ActiveStreams => Volatile.Read(ref _activeStreams);

    public long OpenConnections => Volatile.Read(ref _openConnections);

    public long QueryGrains => Volatile.Read(ref _queryGrains);

    public long RunningQueries => Volatile.Read(ref _runningQueries);

    public long RefusedBySiloCap => Volatile.Read(ref _refusedBySiloCap);

    public long RefusedByClientCap => Volatile.Read(ref _refusedByClientCap);

    public long SendTimeouts => Volatile.Read(ref _sendTimeouts);

    public void QueryStarted() => Interlocked.Increment(ref _runningQueries);

    public void QueryEnded() => Interlocked.Decrement(ref _runningQueries);

    public void QueryGrainActivated() => Interlocked.Increment(ref _queryGrains);

    public void QueryGrainDeactivated() => Interlocked.Decrement(ref _queryGrains);

    public void StreamStarted() => Interlocked.Increment(ref _activeStreams);

    public void StreamEnded() => Interlocked.Decrement(ref _activeStreams);

    /// <param name="limit"><c>silo</c> or <c>client</c>: the cap that refused the stream.</param>
    public void StreamRefused(string limit) =>
        Interlocked.Increment(ref limit == "silo" ? ref _refusedBySiloCap : ref _refusedByClientCap);

    public void SendTimedOut() => Interlocked.Increment(ref _sendTimeouts);

    /// <summary>Counts a connection from the moment it opens until it closes, however it closes.</summary>
    public void OnConnectionStateChange(object? sender, StateChangeEventArgs e)
    {
        if (e.CurrentState == ConnectionState.Open && e.OriginalState != ConnectionState.Open)
        {
            Interlocked.Increment(ref _openConnections);
        }
        else if (e.OriginalState == ConnectionState.Open && e.CurrentState != ConnectionState.Open)
        {
            Interlocked.Decrement(ref _openConnections);
        }
    }
}
