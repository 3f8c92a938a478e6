using System.Collections.Concurrent;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// Watches every SSE stream of this silo from one timer: writes the <c>:</c> heartbeat comment to streams
/// silent for <c>HeartbeatSeconds</c>, and drops a client when one send to it has waited longer than
/// <c>SendTimeoutSeconds</c> (it stopped reading and its TCP window is full). A timer per stream wait
/// (Task.WaitAsync) cost a timer and a finalizer per grain call, 13% of a short stream's CPU.
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

    public HeartbeatMonitor(IOptions<StreamingOptions> options, IOptions<LimitsOptions> limits, TaskStreamMetrics metrics,
        ILogger<HeartbeatMonitor> logger)
    {
        _intervalMs = options.Value.HeartbeatSeconds * 1000L;
        _sendTimeoutMs = limits.Value.SendTimeoutSeconds * 1000L;
        _metrics = metrics;
        _logger = logger;
        // Checking five times per period keeps each heartbeat and each drop within a fifth of its due time.
        var tick = TimeSpan.FromMilliseconds(Math.Min(1000, Math.Min(_intervalMs, _sendTimeoutMs) / 5));
        _timer = new Timer(_ => Tick(), null, tick, tick);
    }

    /// <summary>Starts watching a stream. The caller holds its <see cref="Heartbeat"/> while writing.</summary>
    public Heartbeat Watch(HttpResponse response)
    {
        var heartbeat = new Heartbeat(this, response);
        _streams.TryAdd(heartbeat, 0);
        return heartbeat;
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
    /// Every send to the client goes through here, so the monitor can time it.
    /// </summary>
    public sealed class Heartbeat(HeartbeatMonitor monitor, HttpResponse response) : IDisposable
    {
        private readonly SemaphoreSlim _turn = new(0, 1); // the relay starts with the turn
        private long _sendingSince;
        private int _dropped;

        internal long LastWrite { get; private set; } = Environment.TickCount64;

        /// <summary>When the send now waiting for the client began; 0 when none is waiting.</summary>
        internal long SendingSince => Volatile.Read(ref _sendingSince);

        /// <summary>The client was dropped because a send to it timed out.</summary>
        public bool Dropped => Volatile.Read(ref _dropped) == 1;

        /// <summary>Flushes what the relay wrote to the response pipe, under the send timeout.</summary>
        public ValueTask FlushAsync(CancellationToken token)
        {
            var flush = response.BodyWriter.FlushAsync(token);
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
                await response.Body.WriteAsync(Comment, response.HttpContext.RequestAborted);
                await response.Body.FlushAsync(response.HttpContext.RequestAborted);
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
                monitor._metrics.SendTimedOut();
                LogDropped(monitor._logger, monitor._sendTimeoutMs / 1000);
                response.HttpContext.Abort();
            }
        }

        /// <summary>Stops watching. The relay holds the turn by then, so no heartbeat is being written.</summary>
        public void Dispose() => monitor._streams.TryRemove(this, out _);
    }
}
