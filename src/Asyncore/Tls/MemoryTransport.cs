using System.Threading.Tasks.Sources;

namespace Asyncore.Tls;

/// <summary>
/// The stream under an <see cref="SslStreamEngine"/>'s <see cref="System.Net.Security.SslStream"/>: no socket,
/// two byte queues. A read takes ciphertext the loop fed; when there is none it stays pending and is
/// completed by the next <see cref="Feed"/>, on the caller's thread, with the SslStream's continuation
/// run inline (<see cref="ManualResetValueTaskSourceCore{TResult}.RunContinuationsAsynchronously"/> is
/// false), so the whole handshake and every record are processed inside the loop's own calls. A write
/// appends to the output queue and completes at once.
/// </summary>
internal sealed class MemoryTransport : Stream, IValueTaskSource<int>
{
    private readonly ByteQueue _input = new();
    private readonly ByteQueue _output = new();
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = false };
    private Memory<byte> _pendingBuffer;
    private bool _pending;

    /// <summary>When set, told the name of every step the stream takes (tests record the thread each runs on).</summary>
    internal Action<string>? Observer;

    /// <summary>Ciphertext fed and not yet read by the SslStream.</summary>
    internal int BufferedInput => _input.Count;

    /// <summary>Ciphertext the SslStream wrote and nobody took yet.</summary>
    internal ByteQueue Output => _output;

    /// <summary>Whether the SslStream waits for ciphertext.</summary>
    internal bool ReadPending => _pending;

    /// <summary>Ciphertext from the peer: completes a pending read at once (running the SslStream inline), the rest is kept.</summary>
    internal void Feed(ReadOnlySpan<byte> data)
    {
        Observer?.Invoke("feed");
        if (!_pending || data.IsEmpty)
        {
            _input.Append(data);
            return;
        }

        Span<byte> into = _pendingBuffer.Span;
        int n = Math.Min(into.Length, data.Length);
        data[..n].CopyTo(into);
        _input.Append(data[n..]); // before the continuation runs: it may read again at once
        _pending = false;
        _pendingBuffer = default;
        _core.SetResult(n);
    }

    /// <inheritdoc/>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Observer?.Invoke("read");
        if (_input.Count > 0 || buffer.IsEmpty)
        {
            return new ValueTask<int>(_input.Take(buffer.Span));
        }

        if (_pending)
        {
            throw new InvalidOperationException("a read is already pending on the TLS transport");
        }

        _core.Reset();
        _pending = true;
        _pendingBuffer = buffer;
        return new ValueTask<int>(this, _core.Version);
    }

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        Observer?.Invoke("read");
        if (_input.Count == 0 && !buffer.IsEmpty)
        {
            throw new InvalidOperationException("the TLS transport never blocks: nothing was fed to read");
        }

        return _input.Take(buffer);
    }

    /// <inheritdoc/>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return default;
    }

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    /// <inheritdoc/>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Observer?.Invoke("write");
        _output.Append(buffer);
    }

    /// <inheritdoc/>
    public override void Flush()
    {
    }

    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc/>
    public override bool CanRead => true;

    /// <inheritdoc/>
    public override bool CanWrite => true;

    /// <inheritdoc/>
    public override bool CanSeek => false;

    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();

    /// <inheritdoc/>
    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        // A pending read is never completed: the SslStream above is gone with it.
        _pending = false;
        _pendingBuffer = default;
        _input.Clear();
        _output.Clear();
        base.Dispose(disposing);
    }

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        // Never through a SynchronizationContext or TaskScheduler: the continuation runs inside Feed, on the loop's thread.
        _core.OnCompleted(continuation, state, token, flags & ~ValueTaskSourceOnCompletedFlags.UseSchedulingContext);
}
