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
    }

    public long ActiveStreams => Volatile.Read(ref _activeStreams);

    public long OpenConnections => Volatile.Read(ref _openConnections);

    public long QueryGrains => Volatile.Read(ref _queryGrains);

    public long RunningQueries => Volatile.Read(ref _runningQueries);

    public void QueryStarted() => Interlocked.Increment(ref _runningQueries);

    public void QueryEnded() => Interlocked.Decrement(ref _runningQueries);

    public void QueryGrainActivated() => Interlocked.Increment(ref _queryGrains);

    public void QueryGrainDeactivated() => Interlocked.Decrement(ref _queryGrains);

    public void StreamStarted() => Interlocked.Increment(ref _activeStreams);

    public void StreamEnded() => Interlocked.Decrement(ref _activeStreams);

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
