using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TaskStream.Api;

/// <summary>
/// <c>200</c> with <typeparamref name="T"/> as JSON, sent under <c>TaskStream:Limits:SendTimeoutSeconds</c> as streams
/// are: a client that stops reading a large answer (a list of wide tasks is megabytes) is disconnected instead of
/// holding its connection and the answer's memory. Kestrel's <c>MinResponseDataRate</c> allows such a client minutes.
/// </summary>
internal sealed class TimedOk<T>(T value) : IResult
{
    public async Task ExecuteAsync(HttpContext http)
    {
        var timeout = TimeSpan.FromSeconds(http.RequestServices.GetRequiredService<IOptions<LimitsOptions>>().Value.SendTimeoutSeconds);
        var body = http.Response.Body;
        await using var timed = new TimedResponseStream(body, http, timeout);
        http.Response.Body = timed;
        try
        {
            await TypedResults.Ok(value).ExecuteAsync(http);
            await timed.FlushAsync(http.RequestAborted);
        }
        catch (Exception) when (timed.TimedOut)
        {
            TimedResponseStream.LogDropped(http.RequestServices.GetRequiredService<ILogger<TimedResponseStream>>(), timeout.TotalSeconds);
        }
        finally
        {
            http.Response.Body = body;
        }
    }
}

/// <summary>
/// A response body on which each write and flush must be taken by the client within the send timeout; one that
/// waits longer aborts the connection. Each send is timed, not the whole answer, so a slow but steady reader is served.
/// </summary>
internal sealed partial class TimedResponseStream : Stream
{
    private readonly Stream _inner;
    private readonly TimeSpan _timeout;
    private readonly CancellationTokenSource _stalled = new();
    private readonly CancellationTokenRegistration _abort;

    public TimedResponseStream(Stream inner, HttpContext http, TimeSpan timeout)
    {
        _inner = inner;
        _timeout = timeout;
        _abort = _stalled.Token.UnsafeRegister(static state => ((HttpContext)state!).Abort(), http);
    }

    /// <summary>A send waited longer than the timeout and the connection was aborted.</summary>
    public bool TimedOut => _stalled.IsCancellationRequested;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        TimeAsync(_inner.WriteAsync(buffer, cancellationToken));

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => TimeAsync(new ValueTask(_inner.FlushAsync(cancellationToken))).AsTask();

    // Kestrel refuses synchronous I/O; everything here is written asynchronously.
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Flush() => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private async ValueTask TimeAsync(ValueTask send)
    {
        if (send.IsCompletedSuccessfully)
        {
            return; // the client keeps up: no timer armed
        }

        _stalled.CancelAfter(_timeout);
        try
        {
            await send;
        }
        finally
        {
            if (!_stalled.IsCancellationRequested)
            {
                _stalled.CancelAfter(Timeout.InfiniteTimeSpan);
            }
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await _abort.DisposeAsync();
        _stalled.Dispose();
        await base.DisposeAsync();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _abort.Dispose();
            _stalled.Dispose();
        }

        base.Dispose(disposing);
    }

    [LoggerMessage(EventId = 41, EventName = "SlowListClientDropped", Level = LogLevel.Warning,
        Message = "Dropped a client that took no part of its answer for {SendTimeoutSeconds} s (TaskStream:Limits:SendTimeoutSeconds)")]
    internal static partial void LogDropped(ILogger logger, double sendTimeoutSeconds);
}
