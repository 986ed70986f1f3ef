using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Asyncore;

/// <summary>
/// A part of a file to send, queued with <see cref="AsyncChat.PushWithProducer"/> like any producer
/// (Netty's <c>FileRegion</c>, nginx's file buffer). When it reaches the head of the queue the
/// channel's transport sends it without copying it through user memory (sendfile(2) on a plain
/// socket under select, poll(2), epoll and io_uring); where that does not apply (TLS, a
/// <see cref="Dispatcher.Send"/> override, other systems) the channel reads it in blocks of
/// <see cref="BlockSize"/> into a pooled buffer and sends them through <see cref="Dispatcher.Send"/>.
/// Its unsent bytes count towards <see cref="AsyncChat.OutgoingBytes"/> and the water marks.
/// </summary>
/// <remarks>
/// A file that ends before <see cref="Count"/> bytes were sent (it shrank) closes the connection, since
/// the peer was promised more: <see cref="CameUpShort"/> is set and the bytes sent are logged. The
/// region ends once (the <c>completed</c> callback runs, an owned file is closed): all sent, short,
/// or dropped with the channel's queue (close, <see cref="AsyncChat.DiscardBuffers"/>).
/// A region is queued on one channel at a time. Used as a plain <see cref="IProducer"/> (by code that
/// is not the channel's output queue) it reads a block per <see cref="More"/>.
/// </remarks>
public sealed class FileRegion : IProducer, IDisposable
{
    /// <summary>The block read at a time where the region cannot be sent without a copy.</summary>
    public const int BlockSize = 64 * 1024;

    private readonly bool _ownsFile;
    private Func<SafeFileHandle?>? _open;
    private SafeFileHandle? _file;
    private Action<FileRegion>? _completed;
    private byte[]? _block;
    private int _blockStart;
    private int _blockEnd;

    /// <summary>A region of <paramref name="count"/> bytes of <paramref name="file"/> from <paramref name="offset"/>.</summary>
    /// <param name="file">An open regular file (opened for reading; the region reads at explicit offsets and leaves its position alone).</param>
    /// <param name="offset">The first byte.</param>
    /// <param name="count">How many bytes to send.</param>
    /// <param name="ownsFile">Whether the region closes <paramref name="file"/> when it ends (otherwise the caller keeps it open until then).</param>
    /// <param name="completed">Called once when the region ends, with the region (<see cref="Transferred"/>, <see cref="CameUpShort"/>).</param>
    public FileRegion(SafeFileHandle file, long offset, long count, bool ownsFile = true, Action<FileRegion>? completed = null)
        : this(offset, count, ownsFile, completed)
    {
        ArgumentNullException.ThrowIfNull(file);
        _file = file;
    }

    /// <summary>
    /// A region whose file is opened only when it is first sent (Netty's <c>DefaultFileRegion</c> over a
    /// path opens its file lazily): answers queued behind one another hold one descriptor, not one each.
    /// </summary>
    /// <param name="open">Opens the file when the region reaches the head of the queue; null (the file is gone or changed) ends the region as short, which closes the connection.</param>
    /// <param name="offset">The first byte.</param>
    /// <param name="count">How many bytes to send.</param>
    /// <param name="ownsFile">Whether the region closes the file it opened when it ends.</param>
    /// <param name="completed">Called once when the region ends, with the region.</param>
    public FileRegion(Func<SafeFileHandle?> open, long offset, long count, bool ownsFile = true, Action<FileRegion>? completed = null)
        : this(offset, count, ownsFile, completed)
    {
        ArgumentNullException.ThrowIfNull(open);
        _open = open;
    }

    private FileRegion(long offset, long count, bool ownsFile, Action<FileRegion>? completed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Offset = offset;
        Count = count;
        _ownsFile = ownsFile;
        _completed = completed;
    }

    /// <summary>The file; null while a region made with an opener has not opened it yet.</summary>
    public SafeFileHandle? File => _file;

    /// <summary>The first byte of the region in the file.</summary>
    public long Offset { get; }

    /// <summary>How many bytes the region sends.</summary>
    public long Count { get; }

    /// <summary>Bytes the socket (or the channel's <see cref="Dispatcher.Send"/>) took so far.</summary>
    public long Transferred { get; private set; }

    /// <summary>Bytes not sent yet: <see cref="Count"/> less <see cref="Transferred"/>.</summary>
    public long Remaining => Count - Transferred;

    /// <summary>Whether the file ended before <see cref="Count"/> bytes were sent.</summary>
    public bool CameUpShort { get; private set; }

    /// <summary>Whether the region has ended (sent, short, dropped or disposed).</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>Whether a channel's queue holds it.</summary>
    internal bool Queued { get; set; }

    /// <summary>The region cannot go through sendfile(2) (the file refused it): copied from here on.</summary>
    internal bool CopyOnly { get; set; }

    /// <summary>Bytes sent by the transport without a copy (sendfile(2)); the rest went through a block.</summary>
    internal long SentWithoutCopy { get; set; }

    /// <summary>Opens the file if the region was made with an opener and has not yet.</summary>
    /// <returns>False if there is no file to send (the opener gave none, or the region ended).</returns>
    internal bool EnsureOpen()
    {
        if (_file is null && _open is { } open && !IsCompleted)
        {
            _open = null;
            _file = open();
        }

        return _file is not null && !IsCompleted;
    }

    /// <summary>Whether a block read for the copying path still has unsent bytes.</summary>
    internal bool HasBlock => _blockEnd > _blockStart;

    /// <summary>The file offset of the next byte to send.</summary>
    internal long Position => Offset + Transferred;

    /// <summary>
    /// The next block, for code that drives the region as a plain producer: asking again means the block
    /// before was sent. Empty when the region is done (or the file came up short, which sets
    /// <see cref="CameUpShort"/>); the region has then ended.
    /// </summary>
    /// <returns>The bytes, valid until the next call.</returns>
    /// <exception cref="IOException">Reading the file failed.</exception>
    public ReadOnlyMemory<byte> More()
    {
        Advance(_blockEnd - _blockStart); // the block handed out before was sent
        if (IsCompleted || Remaining == 0)
        {
            End();
            return ReadOnlyMemory<byte>.Empty;
        }

        if (!EnsureOpen() || !ReadBlock())
        {
            End(shortFile: true);
            return ReadOnlyMemory<byte>.Empty;
        }

        return _block.AsMemory(_blockStart, _blockEnd - _blockStart);
    }

    /// <summary>Ends the region now: the <c>completed</c> callback runs (if it has not), an owned file is closed, the buffer goes back.</summary>
    public void Dispose() => End();

    /// <summary>The unsent part of the block read for the copying path, reading the next one first if none is left.</summary>
    /// <returns>False if the file ended first (it shrank).</returns>
    internal bool NextBlock(out ReadOnlySpan<byte> block)
    {
        if (!HasBlock && !ReadBlock())
        {
            block = default;
            return false;
        }

        block = _block.AsSpan(_blockStart, _blockEnd - _blockStart);
        return true;
    }

    /// <summary><paramref name="sent"/> more bytes were taken (from the block, or by sendfile(2) from the file).</summary>
    internal void Advance(int sent)
    {
        Transferred += sent;
        if (HasBlock)
        {
            _blockStart += sent;
            if (_blockStart >= _blockEnd)
            {
                ReturnBlock(); // a slow reader between blocks holds no buffer
            }
        }
    }

    /// <summary>Ends the region: marks it (short or not), runs the callback once, closes an owned file, returns the buffer.</summary>
    internal void End(bool shortFile = false)
    {
        if (IsCompleted)
        {
            return;
        }

        IsCompleted = true;
        CameUpShort = shortFile;
        Queued = false;
        ReturnBlock();
        _open = null;
        if (_ownsFile)
        {
            _file?.Dispose();
        }

        Action<FileRegion>? completed = _completed;
        _completed = null;
        completed?.Invoke(this);
    }

    private bool ReadBlock()
    {
        long remaining = Remaining;
        if (remaining <= 0)
        {
            return false;
        }

        _block ??= ArrayPool<byte>.Shared.Rent(BlockSize);
        int n = RandomAccess.Read(_file!, _block.AsSpan(0, (int)Math.Min(BlockSize, remaining)), Position);
        if (n <= 0)
        {
            ReturnBlock();
            return false;
        }

        _blockStart = 0;
        _blockEnd = n;
        return true;
    }

    private void ReturnBlock()
    {
        _blockStart = _blockEnd = 0;
        if (_block is { } b)
        {
            _block = null;
            ArrayPool<byte>.Shared.Return(b);
        }
    }
}
