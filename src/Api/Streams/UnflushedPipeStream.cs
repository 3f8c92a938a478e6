using System.Buffers;
using System.IO.Pipelines;

namespace TaskStream.Api;

/// <summary>
/// A write-only stream over a response's <see cref="PipeWriter"/> that never flushes by itself. Kestrel
/// flushes (one socket send) on every write to the response body; SseFormatter writes once per event. Through
/// this stream, events that are already available — an Orleans batch of rows — go out in one send, and the
/// relay flushes explicitly whenever it is about to wait (<see cref="TaskEventStream"/>), so nothing written is
/// ever held back from a client that could have it.
/// </summary>
internal sealed class UnflushedPipeStream(PipeWriter writer) : Stream
{
    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(ReadOnlySpan<byte> buffer) => writer.Write(buffer);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        writer.Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // The relay decides when to flush.
    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
