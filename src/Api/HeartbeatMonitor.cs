using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using TaskStream.Grains;

namespace TaskStream.Api;

/// <summary>
/// Writes the <c>:</c> heartbeat comment to every SSE stream of this silo that has been silent for
/// <c>HeartbeatSeconds</c>, from one timer. A timer per stream wait (Task.WaitAsync) cost a timer and a
/// finalizer per grain call, 13% of a short stream's CPU, and kept one timer alive per idle stream.
/// </summary>
public sealed class HeartbeatMonitor : IDisposable
{
    private static readonly byte[] Comment = ":\n\n"u8.ToArray();
    private readonly ConcurrentDictionary<Heartbeat, byte> _streams = new();
    private readonly long _intervalMs;
    private readonly Timer _timer;

    public HeartbeatMonitor(IOptions<StreamingOptions> options)
    {
        _intervalMs = options.Value.HeartbeatSeconds * 1000L;
        // Checking five times per interval keeps each heartbeat within a fifth of an interval of its due time.
        var tick = TimeSpan.FromMilliseconds(Math.Min(1000, _intervalMs / 5));
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
            if (now - heartbeat.LastWrite >= _intervalMs)
            {
                _ = heartbeat.TryBeatAsync();
            }
        }
    }

    public void Dispose() => _timer.Dispose();

    /// <summary>
    /// One stream's turn to write. The relay holds it, except while it waits for the next event
    /// (<see cref="ReleaseWhileWaiting"/> / <see cref="ResumeAsync"/>); only then may the monitor write.
    /// </summary>
    public sealed class Heartbeat(HeartbeatMonitor monitor, HttpResponse response) : IDisposable
    {
        private readonly SemaphoreSlim _turn = new(0, 1); // the relay starts with the turn

        internal long LastWrite { get; private set; } = Environment.TickCount64;

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
                _turn.Release();
            }
        }

        /// <summary>Stops watching. The relay holds the turn by then, so no heartbeat is being written.</summary>
        public void Dispose() => monitor._streams.TryRemove(this, out _);
    }
}
