namespace Asyncore.Output;

/// <summary>
/// async_chat's producer_fifo: a deque of entries (bytes, a producer, or the close marker) in a
/// ring array. Bytes pushed as spans are copied once into a <see cref="SegmentBuffer"/>; their
/// entries only say how many of its bytes they own, in queue order, so the entries and the
/// segments drain together. Bytes pushed as memory (and producers' blocks) are queued as they are.
/// </summary>
internal sealed class ProducerFifo
{
    /// <summary>
    /// What one queued entry costs beyond its payload: its slot in the ring (an <see cref="Entry"/>
    /// is a few dozen bytes on 64-bit) plus bookkeeping. Output limits count it, so a flood of tiny pushes
    /// cannot hide behind a small payload.
    /// </summary>
    internal const int EntryOverhead = 48;

    private const int MinCapacity = 8;

    /// <summary>A ring larger than this (about 40 KiB) is given up when the queue drains; smaller ones are kept for the next burst.</summary>
    private const int KeepCapacity = 1024;

    private readonly SegmentBuffer _staged = new();
    private Entry[] _items = new Entry[MinCapacity];
    private int _head;
    private int _count;
    private long _queuedBytes;
    private long _regionBytes;
    private int _regions;

    /// <summary>One queued item.</summary>
    internal struct Entry
    {
        /// <summary>Bytes queued as memory (not copied).</summary>
        internal ReadOnlyMemory<byte> Data;

        /// <summary>How many bytes at the head of the segment buffer this entry owns (0 for other kinds).</summary>
        internal int Staged;

        internal IProducer? Producer;
        internal bool IsClose;

        /// <summary>The marker <see cref="AsyncChat.HoldInputUntilSent"/> queues: framing resumes when it reaches the head.</summary>
        internal bool IsResume;

        /// <summary>A file region's unsent bytes as the queue counts them (<see cref="RegionBytes"/>).</summary>
        internal long RegionPending;

        internal readonly int Length => Staged > 0 ? Staged : Data.Length;

        internal readonly bool IsBytes => !IsClose && !IsResume && Producer is null;
    }

    /// <summary>How many entries are queued.</summary>
    internal int Count => _count;

    /// <summary>The entry at the head (valid only while <see cref="Count"/> &gt; 0 and until the next change).</summary>
    internal ref Entry First => ref _items[_head];

    /// <summary>The bytes queued as data (producers not yet pulled are not counted).</summary>
    internal long QueuedBytes => _queuedBytes;

    /// <summary>The unsent bytes of the file regions queued (not in memory: counted by the water marks, not by <see cref="QueuedCost"/>).</summary>
    internal long RegionBytes => _regionBytes;

    /// <summary>What the queue costs in memory: payload plus <see cref="EntryOverhead"/> per entry.</summary>
    internal long QueuedCost => _queuedBytes + ((long)_count * EntryOverhead);

    /// <summary>Pooled segments held now (for tests).</summary>
    internal int StagedSegments => _staged.Segments;

    /// <summary>Copies <paramref name="data"/> once and queues it as entries of at most <paramref name="piece"/> bytes (CPython splits push data so).</summary>
    internal void EnqueueCopy(ReadOnlySpan<byte> data, int piece)
    {
        _staged.Append(data);
        for (int i = 0; i < data.Length; i += piece)
        {
            Enqueue(new Entry { Staged = Math.Min(piece, data.Length - i) });
        }
    }

    internal void Enqueue(in Entry entry)
    {
        _queuedBytes += entry.Length;
        if (entry.Producer is FileRegion)
        {
            _regionBytes += entry.RegionPending;
            _regions++;
        }

        Grow();
        _items[(_head + _count) & (_items.Length - 1)] = entry;
        _count++;
    }

    /// <summary>Puts a producer's block in front of the producer (async_chat's appendleft).</summary>
    internal void EnqueueFront(ReadOnlyMemory<byte> data)
    {
        _queuedBytes += data.Length;
        Grow();
        _head = (_head - 1) & (_items.Length - 1);
        _items[_head] = new Entry { Data = data };
        _count++;
    }

    /// <summary>
    /// Up to <paramref name="max"/> bytes of the head entry (which must hold bytes) as one span; staged
    /// bytes that straddle two segments are copied into <paramref name="scratch"/>.
    /// </summary>
    internal ReadOnlySpan<byte> HeadBytes(int max, Span<byte> scratch)
    {
        ref Entry head = ref _items[_head];
        return head.Staged > 0
            ? _staged.Peek(Math.Min(max, head.Staged), scratch)
            : head.Data.Span[..Math.Min(max, head.Data.Length)];
    }

    /// <summary>
    /// The bytes at the head that can go out in one send without a copy: a memory entry, or the
    /// staged entries in a row at the head, up to the end of the head segment and <paramref name="max"/> bytes.
    /// </summary>
    internal ReadOnlySpan<byte> ContiguousHead(int max)
    {
        ref Entry head = ref _items[_head];
        if (head.Staged == 0)
        {
            return head.Data.Span[..Math.Min(max, head.Data.Length)];
        }

        long run = 0;
        for (int i = 0; i < _count && run < max; i++)
        {
            int staged = _items[(_head + i) & (_items.Length - 1)].Staged;
            if (staged == 0)
            {
                break;
            }

            run += staged;
        }

        return _staged.PeekContiguous((int)Math.Min(run, max));
    }

    /// <summary>Removes <paramref name="count"/> sent bytes from the head, across byte entries.</summary>
    internal void Consume(int count)
    {
        while (count > 0 && _count > 0)
        {
            ref Entry head = ref _items[_head];
            int len = head.Length;
            if (count < len)
            {
                if (head.Staged > 0)
                {
                    head.Staged -= count;
                    _staged.Consume(count);
                }
                else
                {
                    head.Data = head.Data[count..];
                }

                _queuedBytes -= count;
                return;
            }

            count -= len;
            DequeueFront();
        }
    }

    /// <summary>The file region at the head sent <paramref name="count"/> more bytes.</summary>
    internal void RegionSent(int count)
    {
        ref Entry head = ref _items[_head];
        head.RegionPending -= count;
        _regionBytes -= count;
    }

    internal void DequeueFront()
    {
        ref Entry head = ref _items[_head];
        if (head.Staged > 0)
        {
            _staged.Consume(head.Staged);
        }

        if (head.Producer is FileRegion)
        {
            _regionBytes -= head.RegionPending;
            _regions--;
        }

        _queuedBytes -= head.Length;
        head = default;
        _head = (_head + 1) & (_items.Length - 1);
        _count--;
        if (_count == 0)
        {
            _head = 0;
            if (_items.Length > KeepCapacity)
            {
                _items = new Entry[MinCapacity]; // a burst's growth is not kept
            }
        }
    }

    /// <summary>Empties the queue and gives back everything it holds (the channel closed, or discarded its buffers).</summary>
    internal void Clear()
    {
        while (_regions > 0 && _count > 0)
        {
            // Each file region ends once (its file closed, its callback told what was sent).
            FileRegion? region = _items[_head].Producer as FileRegion;
            DequeueFront();
            region?.End();
        }

        _staged.Clear();
        _count = 0;
        _head = 0;
        _queuedBytes = 0;
        _regionBytes = 0;
        _regions = 0;
        if (_items.Length > MinCapacity)
        {
            _items = new Entry[MinCapacity];
        }
        else
        {
            Array.Clear(_items);
        }
    }

    private void Grow()
    {
        if (_count < _items.Length)
        {
            return;
        }

        var bigger = new Entry[_items.Length * 2];
        for (int i = 0; i < _count; i++)
        {
            bigger[i] = _items[(_head + i) & (_items.Length - 1)];
        }

        _items = bigger;
        _head = 0;
    }
}
