using System.Buffers;
using Asyncore;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Samples.Http;

/// <summary>
/// One response's file body: a range of a file, read in blocks of at most 64 KiB through a pooled
/// buffer. The channel asks for the next block only after it has sent the previous one, so the
/// buffer is free again by then. Each response owns its producer, so a pipelined request queued
/// behind it cannot close its file; it closes the file itself at the end, and the connection
/// disposes the ones still queued when it closes. A producer queued behind another one opens its
/// file only when its turn comes (<see cref="Deferred"/>), so a client that pipelines a thousand
/// downloads holds one descriptor, not a thousand.
/// </summary>
public sealed class FileProducer : IProducer, IDisposable
{
    /// <summary>The largest block read per <see cref="More"/>.</summary>
    public const int BlockSize = 64 * 1024;

    private readonly Action? _truncated;
    private Action<long>? _finished;
    private long _given;    // bytes handed to the channel
    private int _lastBlock; // the block handed out last, which the socket may not have taken yet
    private readonly string? _path;
    private readonly NativeFile.Facts _expected;
    private readonly string? _within;
    private SafeFileHandle? _file;
    private long _offset;
    private long _remaining;
    private byte[]? _buffer;

    /// <summary>Sends <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="offset"/>; owns the file from now on.</summary>
    /// <param name="file">An open regular file.</param>
    /// <param name="offset">The first byte.</param>
    /// <param name="count">How many bytes were promised (the Content-Length).</param>
    /// <param name="truncated">Called if the file ends before that: the connection must close, since the answer is short.</param>
    /// <param name="finished">
    /// Called once when the producer ends (everything sent, the file came up short, or the connection
    /// closed), with the bytes the socket took: the channel asks for a block only once the one before is
    /// sent, so the count is exact but when the connection closes mid-block (the last block is not counted then).
    /// </param>
    public FileProducer(SafeFileHandle file, long offset, long count, Action? truncated = null, Action<long>? finished = null)
        : this(offset, count, truncated, finished)
    {
        _file = file;
    }

    private FileProducer(long offset, long count, Action? truncated, Action<long>? finished, string? path = null, NativeFile.Facts expected = default, string? within = null)
    {
        _finished = finished;
        _within = within;
        _offset = offset;
        _remaining = count;
        _truncated = truncated;
        _path = path;
        _expected = expected;
    }

    /// <summary>Whether the producer is finished (sent everything, or disposed).</summary>
    public bool Finished { get; private set; }

    /// <summary>
    /// A producer that opens <paramref name="path"/> at its first <see cref="More"/> and sends
    /// nothing (<paramref name="truncated"/> is called) unless it is still the file the head described.
    /// </summary>
    internal static FileProducer Deferred(string path, NativeFile.Facts facts, long offset, long count, Action? truncated, string? within = null, Action<long>? finished = null) =>
        new(offset, count, truncated, finished, path, facts, within);

    /// <inheritdoc/>
    public ReadOnlyMemory<byte> More()
    {
        _lastBlock = 0; // asked again: the block before went to the socket
        if (Finished || _remaining == 0)
        {
            Dispose();
            return ReadOnlyMemory<byte>.Empty;
        }

        if (_file is null && _path is not null)
        {
            if (NativeFile.Open(_path, out _file, out NativeFile.Facts now, _within) != OpenStatus.File || now != _expected)
            {
                return Short();
            }
        }

        _buffer ??= ArrayPool<byte>.Shared.Rent(BlockSize);
        int n = RandomAccess.Read(_file!, _buffer.AsSpan(0, (int)Math.Min(BlockSize, _remaining)), _offset);
        if (n <= 0)
        {
            return Short();
        }

        _offset += n;
        _remaining -= n;
        _given += n;
        _lastBlock = n;
        return _buffer.AsMemory(0, n);
    }

    /// <summary>Closes the file and gives the buffer back.</summary>
    public void Dispose()
    {
        Finished = true;
        if (_finished is { } finished)
        {
            _finished = null;
            finished(_given - _lastBlock);
        }

        _file?.Dispose();
        _file = null;
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    private ReadOnlyMemory<byte> Short()
    {
        Dispose();
        _truncated?.Invoke();
        return ReadOnlyMemory<byte>.Empty;
    }
}
