using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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

    /// <summary>The carry: small blocks gathered into one send (<see cref="StartCarry"/>); pooled, held only while its entry is queued.</summary>
    private byte[]? _carry;

    /// <summary>Where the carry's bytes end; the head entry's <see cref="Entry.Data"/> ends here while it is the carry.</summary>
    private int _carryEnd;

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

        /// <summary>The entry's <see cref="Data"/> lies in the queue's carry (only ever the head entry).</summary>
        internal bool IsCarry;

        internal readonly int Length => Staged > 0 ? Staged : Data.Length;

        internal readonly bool IsBytes => !IsClose && !IsResume && Producer is null;
    }

    /// <summary>How many entries are queued.</summary>
    internal int Count => _count;

    /// <summary>The entry at the head (valid only while <see cref="Count"/> &gt; 0 and until the next change).</summary>
    internal ref Entry First => ref _items[_head];

    /// <summary>The entry behind the head (valid only while <see cref="Count"/> &gt; 1 and until the next change).</summary>
    internal ref Entry Second => ref _items[(_head + 1) & (_items.Length - 1)];

    /// <summary>Whether the carry is rented (tests).</summary>
    internal bool HoldsCarry => _carry is not null;

    /// <summary>How many times a carry was started (tests).</summary>
    internal int CarriesStarted { get; private set; }

    /// <summary>The most bytes the carry held at once (tests).</summary>
    internal int LargestCarry { get; private set; }

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

    /// <summary>
    /// The head memory entry and the memory entries behind it that continue it in memory (pieces of one
    /// <c>Push(ReadOnlyMemory)</c>), up to <paramref name="max"/> bytes, as one span: no copy.
    /// </summary>
    /// <param name="max">The most bytes.</param>
    /// <param name="entries">How many entries the span covers in full (the last may be covered in part).</param>
    internal ReadOnlySpan<byte> MemoryRun(int max, out int entries)
    {
        ref Entry head = ref _items[_head];
        ReadOnlySpan<byte> first = head.Data.Span;
        entries = 1;
        if (first.Length >= max || head.IsCarry)
        {
            return first[..Math.Min(max, first.Length)];
        }

        int run = first.Length;
        ref byte start = ref MemoryMarshal.GetReference(first);
        for (int i = 1; i < _count && run < max; i++)
        {
            ref Entry next = ref _items[(_head + i) & (_items.Length - 1)];
            if (next.Staged > 0 || !next.IsBytes || next.Data.IsEmpty)
            {
                break;
            }

            ReadOnlySpan<byte> more = next.Data.Span;
            if (!Unsafe.AreSame(ref Unsafe.Add(ref start, run), ref MemoryMarshal.GetReference(more)))
            {
                break;
            }

            run += more.Length;
            entries++;
        }

        return MemoryMarshal.CreateReadOnlySpan(ref start, Math.Min(run, max));
    }

    /// <summary>
    /// Makes the head a carry entry: the bytes of <paramref name="run"/>, the head of the queue (memory
    /// entries, as <see cref="MemoryRun"/> gave them), are copied into the carry (of <paramref name="capacity"/> bytes or more), which then stands
    /// for them at the head. The caller gathers more behind them with <see cref="MergeSecond"/> and
    /// <see cref="AppendToCarry"/>.
    /// </summary>
    internal void StartCarry(ReadOnlySpan<byte> run, int capacity)
    {
        byte[] carry = _carry ??= ArrayPool<byte>.Shared.Rent(capacity);
        run.CopyTo(carry);
        int left = run.Length;
        while (left > 0)
        {
            int len = _items[_head].Length;
            if (len > left)
            {
                Consume(left);
                break;
            }

            left -= len;
            DequeueFront();
        }

        // The entries dequeued above were never the carry (it is only ever the head, and the head was
        // not it), so the carry is still this channel's.
        _carryEnd = run.Length;
        _queuedBytes += run.Length;
        CarriesStarted++;
        Grow();
        _head = (_head - 1) & (_items.Length - 1);
        _items[_head] = new Entry { Data = carry.AsMemory(0, run.Length), IsCarry = true };
        _count++;
    }

    /// <summary>Room left in the carry, after moving the unsent bytes to its start when that makes at least <paramref name="want"/> bytes of room.</summary>
    internal int CarryRoom(int capacity, int want)
    {
        ref Entry head = ref _items[_head];
        int room = capacity - _carryEnd;
        if (room < want && head.Data.Length < _carryEnd)
        {
            head.Data.Span.CopyTo(_carry);
            _carryEnd = head.Data.Length;
            head.Data = _carry.AsMemory(0, _carryEnd);
            room = capacity - _carryEnd;
        }

        return room;
    }

    /// <summary>Copies <paramref name="bytes"/> (a producer's block) into the carry behind what it holds.</summary>
    internal void AppendToCarry(ReadOnlySpan<byte> bytes)
    {
        ref Entry head = ref _items[_head];
        bytes.CopyTo(_carry.AsSpan(_carryEnd));
        _carryEnd += bytes.Length;
        head.Data = _carry.AsMemory(_carryEnd - head.Data.Length - bytes.Length, head.Data.Length + bytes.Length);
        _queuedBytes += bytes.Length;
        LargestCarry = Math.Max(LargestCarry, head.Data.Length);
    }

    /// <summary>Moves the byte entry behind the carry into it (copied; staged bytes leave their segments) and drops that entry.</summary>
    internal void MergeSecond()
    {
        ref Entry second = ref Second;
        int len = second.Length;
        if (second.Staged > 0)
        {
            _staged.CopyHead(len, _carry.AsSpan(_carryEnd, len));
            _staged.Consume(len);
        }
        else
        {
            second.Data.Span.CopyTo(_carry.AsSpan(_carryEnd));
        }

        ref Entry head = ref _items[_head];
        _carryEnd += len;
        head.Data = _carry.AsMemory(_carryEnd - head.Data.Length - len, head.Data.Length + len);
        LargestCarry = Math.Max(LargestCarry, head.Data.Length);
        RemoveSecond();
    }

    /// <summary>Drops the entry behind the head (an exhausted producer, or bytes merged into the carry); its bytes are the caller's to count.</summary>
    internal void RemoveSecond()
    {
        int second = (_head + 1) & (_items.Length - 1);
        _items[second] = _items[_head];
        _items[_head] = default;
        _head = second;
        _count--;
    }

    /// <summary>Puts a producer's block between the head and the producer behind it.</summary>
    internal void InsertAfterHead(ReadOnlyMemory<byte> data)
    {
        _queuedBytes += data.Length;
        Grow();
        int front = (_head - 1) & (_items.Length - 1);
        _items[front] = _items[_head];
        _items[_head] = new Entry { Data = data };
        _head = front;
        _count++;
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

        if (head.IsCarry)
        {
            ReleaseCarry();
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
        ReleaseCarry();
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

    private void ReleaseCarry()
    {
        if (_carry is { } carry)
        {
            _carry = null;
            _carryEnd = 0;
            ArrayPool<byte>.Shared.Return(carry);
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
