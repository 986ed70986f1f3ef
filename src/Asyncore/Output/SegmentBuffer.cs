using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Asyncore.Output;

/// <summary>
/// The bytes that <see cref="AsyncChat.Push(ReadOnlySpan{byte})"/> copied and that are not sent yet,
/// in the order pushed, in fixed-size segments (Redis keeps replies in 16 KiB blocks; Pipelines in
/// pooled segments). Bytes are appended at the tail and consumed at the head; a segment goes back
/// as soon as the head has passed it, and the last one when the buffer empties. Memory follows what
/// is queued now, never what was ever queued; steady-state pushing and sending allocate nothing.
/// </summary>
/// <remarks>
/// Segments come from a cache of the pushing thread (a loop's thread, in practice) before
/// <see cref="ArrayPool{T}.Shared"/>: within one pass every channel that answers holds a segment
/// until the end-of-pass flush, so a loop with a few hundred answering channels would empty the
/// shared pool's per-core stacks every pass and allocate; the thread's own cache takes no lock and
/// keeps at most <see cref="CachedPerThread"/> idle segments (4 MiB); beyond that they go back to
/// the shared pool.
/// </remarks>
internal sealed class SegmentBuffer
{
    /// <summary>The size of a segment.</summary>
    internal const int SegmentSize = 16 * 1024;

    /// <summary>Most idle segments a thread keeps for itself.</summary>
    internal const int CachedPerThread = 256;

    [ThreadStatic]
    private static Slot[]? t_cache;

    [ThreadStatic]
    private static int t_cached;

    private Slot[] _segments = new Slot[4];
    private int _first;      // ring index of the head segment
    private int _count;      // segments held
    private int _headOffset; // where unread bytes start in the head segment
    private int _tailUsed;   // bytes written into the tail segment
    private long _length;

    /// <summary>Bytes held.</summary>
    internal long Length => _length;

    /// <summary>Segments held (each <see cref="SegmentSize"/> bytes or a little more).</summary>
    internal int Segments => _count;

    /// <summary>Copies <paramref name="data"/> in at the tail.</summary>
    internal void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_count == 0 || _tailUsed == Tail.Length)
            {
                AddSegment();
            }

            byte[] tail = Tail;
            int n = Math.Min(data.Length, tail.Length - _tailUsed);
            data[..n].CopyTo(tail.AsSpan(_tailUsed));
            _tailUsed += n;
            _length += n;
            data = data[n..];
        }
    }

    /// <summary>
    /// The first <paramref name="count"/> bytes at the head as one span: straight from the head
    /// segment where they lie in it, else copied into <paramref name="scratch"/> (which must hold
    /// <paramref name="count"/> bytes).
    /// </summary>
    internal ReadOnlySpan<byte> Peek(int count, Span<byte> scratch)
    {
        int inHead = HeadReadable;
        if (count <= inHead)
        {
            return _segments[_first].Bytes.AsSpan(_headOffset, count);
        }

        int copied = 0;
        int offset = _headOffset;
        for (int i = 0; copied < count; i++)
        {
            byte[] seg = _segments[(_first + i) & (_segments.Length - 1)].Bytes;
            int end = i == _count - 1 ? _tailUsed : seg.Length;
            int n = Math.Min(count - copied, end - offset);
            seg.AsSpan(offset, n).CopyTo(scratch[copied..]);
            copied += n;
            offset = 0;
        }

        return scratch[..count];
    }

    /// <summary>Copies the first <paramref name="count"/> bytes at the head into <paramref name="destination"/>, across segments.</summary>
    internal void CopyHead(int count, Span<byte> destination)
    {
        ReadOnlySpan<byte> bytes = Peek(count, destination);
        if (!Unsafe.AreSame(ref MemoryMarshal.GetReference(bytes), ref MemoryMarshal.GetReference(destination)))
        {
            bytes.CopyTo(destination);
        }
    }

    /// <summary>The longest span at the head that needs no copy: up to <paramref name="max"/> bytes of the head segment.</summary>
    internal ReadOnlySpan<byte> PeekContiguous(int max) =>
        _count == 0 ? default : _segments[_first].Bytes.AsSpan(_headOffset, Math.Min(max, HeadReadable));

    /// <summary>Drops <paramref name="count"/> bytes at the head, returning passed segments to the pool.</summary>
    internal void Consume(long count)
    {
        _length -= count;
        while (count > 0)
        {
            int inHead = HeadReadable;
            if (count < inHead)
            {
                _headOffset += (int)count;
                return;
            }

            count -= inHead;
            ReturnHead();
        }

        if (_length == 0)
        {
            Clear();
        }
    }

    /// <summary>Returns every segment to the pool.</summary>
    internal void Clear()
    {
        while (_count > 0)
        {
            ReturnHead();
        }

        _length = 0;
        if (_segments.Length > 4)
        {
            _segments = new Slot[4];
        }
    }

    private byte[] Tail => _segments[(_first + _count - 1) & (_segments.Length - 1)].Bytes;

    private int HeadReadable => _count == 0 ? 0 : (_count == 1 ? _tailUsed : _segments[_first].Bytes.Length) - _headOffset;

    private void AddSegment()
    {
        if (_count == _segments.Length)
        {
            var bigger = new Slot[_segments.Length * 2];
            for (int i = 0; i < _count; i++)
            {
                bigger[i] = _segments[(_first + i) & (_segments.Length - 1)];
            }

            _segments = bigger;
            _first = 0;
        }

        _segments[(_first + _count) & (_segments.Length - 1)].Bytes = RentSegment();
        _count++;
        _tailUsed = 0;
    }

    private void ReturnHead()
    {
        ReturnSegment(_segments[_first].Bytes);
        _segments[_first].Bytes = null!;
        _first = (_first + 1) & (_segments.Length - 1);
        _count--;
        _headOffset = 0;
        if (_count == 0)
        {
            _first = 0;
            _tailUsed = 0;
        }
    }

    private static byte[] RentSegment()
    {
        Slot[]? cache = t_cache;
        if (cache is not null && t_cached > 0)
        {
            int i = --t_cached;
            byte[] segment = cache[i].Bytes;
            cache[i].Bytes = null!;
            return segment;
        }

        return ArrayPool<byte>.Shared.Rent(SegmentSize);
    }

    private static void ReturnSegment(byte[] segment)
    {
        Slot[] cache = t_cache ??= new Slot[CachedPerThread];
        if (t_cached < cache.Length && segment.Length == SegmentSize)
        {
            cache[t_cached++].Bytes = segment;
            return;
        }

        ArrayPool<byte>.Shared.Return(segment);
    }

    /// <summary>Lets the idle segments cached on this thread go (a loop handing memory back after a burst).</summary>
    internal static void TrimThreadCache()
    {
        t_cache = null;
        t_cached = 0;
    }

    /// <summary>An array element that holds a segment: storing into a struct's field skips the covariance check a store into a <c>byte[][]</c> pays.</summary>
    private struct Slot
    {
        internal byte[] Bytes;
    }
}
