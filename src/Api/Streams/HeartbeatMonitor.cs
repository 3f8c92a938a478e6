using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// Watches every SSE stream of this silo from one timer: writes the <c>:</c> heartbeat comment to streams
/// silent for <c>HeartbeatSeconds</c>, and drops a client when one send to it has waited longer than
/// <c>SendTimeoutSeconds</c> (it stopped reading and its TCP window is full). A timer per stream wait
/// (Task.WaitAsync) cost a timer and a finalizer per grain call, 13% of a short stream's CPU. It also ends every
/// stream when the host stops, from one registration, rather than a token linked to the host's per stream.
/// </summary>
internal sealed partial class HeartbeatMonitor : IDisposable
{
    private static readonly byte[] Comment = ":\n\n"u8.ToArray();
    private readonly ConcurrentDictionary<Heartbeat, byte> _streams = new();
    private readonly long _intervalMs;
    private readonly long _sendTimeoutMs;
    private readonly TaskStreamMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Timer _timer;
    private readonly CancellationToken _stopping;

    public HeartbeatMonitor(IOptions<StreamingOptions> options, IOptions<LimitsOptions> limits, TaskStreamMetrics metrics,
        IHostApplicationLifetime lifetime, ILogger<HeartbeatMonitor> logger)
    {
        _intervalMs = options.Value.HeartbeatSeconds * 1000L;
        _sendTimeoutMs = limits.Value.SendTimeoutSeconds * 1000L;
        _metrics = metrics;
        _logger = logger;
        // Checking five times per period keeps each heartbeat and each drop within a fifth of its due time.
        var tick = TimeSpan.FromMilliseconds(Math.Min(1000, Math.Min(_intervalMs, _sendTimeoutMs) / 5));
        _timer = new Timer(_ => Tick(), null, tick, tick);
        _stopping = lifetime.ApplicationStopping;
        _stopping.UnsafeRegister(static monitor => ((HeartbeatMonitor)monitor!).StopAll(), this);
    }

    /// <summary>Starts watching a stream. The caller holds its <see cref="Heartbeat"/> while writing.</summary>
    public Heartbeat Watch(HttpResponse response)
    {
        var heartbeat = new Heartbeat(this, response);
        _streams.TryAdd(heartbeat, 0);
        if (_stopping.IsCancellationRequested)
        {
            heartbeat.Stop(); // came after the sweep below
        }

        return heartbeat;
    }

    private void StopAll()
    {
        foreach (var heartbeat in _streams.Keys)
        {
            heartbeat.Stop();
        }
    }

    private void Tick()
    {
        var now = Environment.TickCount64;
        foreach (var heartbeat in _streams.Keys)
        {
            var sendingSince = heartbeat.SendingSince;
            if (sendingSince != 0 && now - sendingSince >= _sendTimeoutMs)
            {
                heartbeat.Drop();
            }
            else if (now - heartbeat.LastWrite >= _intervalMs)
            {
                _ = heartbeat.TryBeatAsync();
            }
        }
    }

    public void Dispose() => _timer.Dispose();

    [LoggerMessage(EventId = 3, EventName = "SlowClientDropped", Level = LogLevel.Warning,
        Message = "Dropped a stream client that read nothing for {SendTimeoutSeconds} s (TaskStream:Limits:SendTimeoutSeconds)")]
    private static partial void LogDropped(ILogger logger, long sendTimeoutSeconds);

    /// <summary>
    /// One stream's turn to write. The relay holds it, except while it waits for the next event
    /// (<see cref="ReleaseWhileWaiting"/> / <see cref="ResumeAsync"/>); only then may the monitor write.
    /// Every send to the client goes through here, so the monitor can time it. Its <see cref="Token"/> ends the
    /// stream when the client leaves or the host stops.
    /// </summary>
    public sealed class Heartbeat : IDisposable
    {
        private readonly HeartbeatMonitor _monitor;
        private readonly HttpResponse _response;
        private readonly SemaphoreSlim _turn = new(0, 1); // the relay starts with the turn
        // A plain source, cancelled from one registration on the request's abort and from the monitor's one on the
        // host's stopping: a waiting follower holds one registration here, not a linked source's two plus its own.
        private readonly CancellationTokenSource _cancellation = new();
        private readonly CancellationTokenRegistration _aborted;
        private long _sendingSince;
        private int _dropped;
        private long _endedAt;

        internal Heartbeat(HeartbeatMonitor monitor, HttpResponse response)
        {
            (_monitor, _response) = (monitor, response);
            Token = _cancellation.Token;
            _aborted = response.HttpContext.RequestAborted.UnsafeRegister(static heartbeat =>
            {
                var self = (Heartbeat)heartbeat!;
                self.MarkEnded();
                self.Stop();
            }, this);
        }

        /// <summary>Cancelled when the client left (or was dropped) or the host is stopping.</summary>
        public CancellationToken Token { get; }

        /// <summary>When the stream ended (<see cref="Stopwatch"/> timestamp): for a client that left, when that was seen.</summary>
        public long EndedAt => Volatile.Read(ref _endedAt);

        /// <summary>Records the stream's end, unless the client's leaving recorded it already.</summary>
        public void MarkEnded() => Interlocked.CompareExchange(ref _endedAt, Stopwatch.GetTimestamp(), 0);

        internal long LastWrite { get; private set; } = Environment.TickCount64;

        /// <summary>When the send now waiting for the client began; 0 when none is waiting.</summary>
        internal long SendingSince => Volatile.Read(ref _sendingSince);

        /// <summary>The client was dropped because a send to it timed out.</summary>
        public bool Dropped => Volatile.Read(ref _dropped) == 1;

        /// <summary>Flushes what the relay wrote to the response pipe, under the send timeout.</summary>
        public ValueTask FlushAsync(CancellationToken token)
        {
            var flush = _response.BodyWriter.FlushAsync(token);
            if (flush.IsCompleted)
            {
                flush.GetAwaiter().GetResult(); // the common case: the client keeps up, no timing needed
                return ValueTask.CompletedTask;
            }

            return TimeAsync(flush);
        }

        /// <summary>Awaits any other send (the headers, the response's completion) under the send timeout.</summary>
        public async Task SendAsync(Task send)
        {
            if (!send.IsCompleted)
            {
                Volatile.Write(ref _sendingSince, Environment.TickCount64);
            }

            try
            {
                await send;
            }
            finally
            {
                Volatile.Write(ref _sendingSince, 0);
            }
        }

        private async ValueTask TimeAsync(ValueTask<FlushResult> flush)
        {
            Volatile.Write(ref _sendingSince, Environment.TickCount64);
            try
            {
                await flush;
            }
            finally
            {
                Volatile.Write(ref _sendingSince, 0);
            }
        }

        /// <summary>Called by the relay after it flushed and before it waits.</summary>
        public void ReleaseWhileWaiting()
        {
            LastWrite = Environment.TickCount64;
            _turn.Release();
        }

        /// <summary>Called by the relay when its wait is over; waits for a heartbeat being written.</summary>
        public Task ResumeAsync() => _turn.WaitAsync();

        internal async Task TryBeatAsync()
        {
            if (!_turn.Wait(0))
            {
                return; // the relay is writing
            }

            Volatile.Write(ref _sendingSince, Environment.TickCount64);
            try
            {
                await _response.Body.WriteAsync(Comment, _response.HttpContext.RequestAborted);
                await _response.Body.FlushAsync(_response.HttpContext.RequestAborted);
                LastWrite = Environment.TickCount64;
            }
            catch (Exception exception) when (exception is OperationCanceledException or IOException or ObjectDisposedException)
            {
                // The client is gone; the relay finds out on its own.
            }
            finally
            {
                Volatile.Write(ref _sendingSince, 0);
                _turn.Release();
            }
        }

        /// <summary>
        /// Aborts the connection of a client that stopped reading: the waiting send ends, the relay sees the
        /// request aborted and ends the stream, which releases its grain query and its stream slot.
        /// </summary>
        internal void Drop()
        {
            if (Interlocked.Exchange(ref _dropped, 1) == 0)
            {
                _monitor._metrics.SendTimedOut();
                LogDropped(_monitor._logger, _monitor._sendTimeoutMs / 1000);
                _response.HttpContext.Abort();
            }
        }

        internal void Stop()
        {
            try
            {
                _cancellation.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The stream ended while the host's stopping swept over it.
            }
        }

        /// <summary>Stops watching. The relay holds the turn by then, so no heartbeat is being written.</summary>
        public void Dispose()
        {
            _monitor._streams.TryRemove(this, out _);
            _aborted.Dispose();
            _cancellation.Dispose();
        }
    }
}
