using System.Collections.Concurrent;
using System.Data;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

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
    private long _connectionsOpened;
    private long _logReadsByFollowers;
    private long _logReadsByFeed;
    private long _streamsStarted;
    private long _eventsSent;
    // Per-stream counts are plain counters read when metrics are collected, not instrument updates on every stream:
    // an update with tags cost about 2% of a short stream's CPU. Only the duration histogram is recorded per stream.
    private readonly ConcurrentDictionary<string, StrongBox<long>> _streamsEnded = new();
    private readonly Histogram<double> _queryDuration;

    public TaskStreamMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableCounter("taskstream.streams.started", () => Volatile.Read(ref _streamsStarted),
            "{stream}", "SSE streams this silo began relaying.");
        meter.CreateObservableCounter("taskstream.streams.ended", () => _streamsEnded.Select(ended =>
                new Measurement<long>(Volatile.Read(ref ended.Value.Value), new KeyValuePair<string, object?>("outcome", ended.Key))),
            "{stream}", "SSE streams this silo finished relaying, by outcome (completed, no-content, cancelled, dropped, stopped, failed).");
        meter.CreateObservableCounter("taskstream.events.sent", () => Volatile.Read(ref _eventsSent),
            "{event}", "Task events (task, task-deleted) written to SSE clients, counted as they are sent.");
        // Seconds, as OpenTelemetry's duration conventions ask; the default buckets are made for milliseconds.
        _queryDuration = meter.CreateHistogram("taskstream.query.duration", "s",
            "How long a stream's query ran, from the request to its end, by outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600] });
        meter.CreateObservableUpDownCounter("taskstream.streams.active", () => ActiveStreams,
            "{stream}", "SSE streams this silo is relaying now.");
        meter.CreateObservableUpDownCounter("taskstream.db.connections.open", () => OpenConnections,
            "{connection}", "Database connections in use by this silo's queries and writes now (idle pooled ones not counted).");
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
        meter.CreateObservableCounter("taskstream.db.connections.opened", () => ConnectionsOpened,
            "{connection}", "Database connections taken by this silo's queries and writes: one per page read or write, so also its store queries.");
        meter.CreateObservableCounter("taskstream.feed.log_reads", () => new[]
            {
                new Measurement<long>(LogReadsByFollowers, new KeyValuePair<string, object?>("reader", "follower")),
                new Measurement<long>(LogReadsByFeed, new KeyValuePair<string, object?>("reader", "feed")),
            },
            "{read}", "Reads of the change log (its position, then pages of changes, on one connection), by reader: " +
            "feed (this silo's change window, once per change it learns of) or follower (a follow query reading the store " +
            "itself: when it starts or resumes, or is older than the window).");
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

    /// <summary>Connections taken so far (each page read takes one, each write opens one).</summary>
    public long ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    /// <summary>Change-log reads by follow queries themselves so far.</summary>
    public long LogReadsByFollowers => Volatile.Read(ref _logReadsByFollowers);

    /// <summary>Change-log reads by this silo's change window so far.</summary>
    public long LogReadsByFeed => Volatile.Read(ref _logReadsByFeed);

    public void ChangeLogRead(ChangeLogReader reader) =>
        Interlocked.Increment(ref reader == ChangeLogReader.Feed ? ref _logReadsByFeed : ref _logReadsByFollowers);

    public void QueryStarted() => Interlocked.Increment(ref _runningQueries);

    public void QueryEnded() => Interlocked.Decrement(ref _runningQueries);

    public void QueryGrainActivated() => Interlocked.Increment(ref _queryGrains);

    public void QueryGrainDeactivated() => Interlocked.Decrement(ref _queryGrains);

    public void StreamStarted()
    {
        Interlocked.Increment(ref _activeStreams);
        Interlocked.Increment(ref _streamsStarted);
    }

    /// <summary>A stream is over: <paramref name="outcome"/> as in its StreamEnded log line, and how long it ran.</summary>
    public void StreamEnded(string outcome, TimeSpan duration)
    {
        Interlocked.Decrement(ref _activeStreams);
        Interlocked.Increment(ref _streamsEnded.GetOrAdd(outcome, static _ => new StrongBox<long>()).Value);
        _queryDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
    }

    /// <summary>Task events a stream has just sent.</summary>
    public void EventsSent(long events)
    {
        if (events > 0)
        {
            Interlocked.Add(ref _eventsSent, events);
        }
    }

    /// <param name="limit"><c>silo</c> or <c>client</c>: the cap that refused the stream.</param>
    public void StreamRefused(StreamCap cap) =>
        Interlocked.Increment(ref cap == StreamCap.Silo ? ref _refusedBySiloCap : ref _refusedByClientCap);

    public void SendTimedOut() => Interlocked.Increment(ref _sendTimeouts);

    /// <summary>A read or write took a connection: counted open until it is given back (or closed).</summary>
    public void ConnectionTaken()
    {
        Interlocked.Increment(ref _openConnections);
        Interlocked.Increment(ref _connectionsOpened);
    }

    public void ConnectionGivenBack() => Interlocked.Decrement(ref _openConnections);

    /// <summary>Counts a write's connection from the moment it opens until it closes, however it closes.</summary>
    public void OnConnectionStateChange(object? sender, StateChangeEventArgs e)
    {
        if (e.CurrentState == ConnectionState.Open && e.OriginalState != ConnectionState.Open)
        {
            ConnectionTaken();
        }
        else if (e.OriginalState == ConnectionState.Open && e.CurrentState != ConnectionState.Open)
        {
            ConnectionGivenBack();
        }
    }
}

/// <summary>Which stream cap refused a stream: the silo's (<c>MaxStreams</c>) or the client's (<c>MaxStreamsPerClient</c>).</summary>
public enum StreamCap
{
    Silo,
    Client,
}

/// <summary>Who read the change log: a follow query itself, or the silo's change window for all of them.</summary>
public enum ChangeLogReader
{
    Follower,
    Feed,
}
