namespace Asyncore.Output;

/// <summary>
/// async_chat's producer_fifo: a deque of entries (bytes, a producer, or the close marker) in a
/// reused ring array. Bytes pushed as spans are copied into one staging array per channel that is
/// reused once the queue drains, so steady-state pushing allocates nothing.
/// </summary>
internal sealed class ProducerFifo
{
    private const int KeepStage = 64 * 1024;

    private Entry[] _items = new Entry[8];
    private int _head;
    private int _count;
    private byte[] _stage = [];
    private int _staged;

    /// <summary>One queued item.</summary>
    internal struct Entry
    {
        internal ReadOnlyMemory<byte> Data;
        internal IProducer? Producer;
        internal bool IsClose;
    }

    /// <summary>How many entries are queued.</summary>
    internal int Count => _count;

    /// <summary>The entry at the head (valid only while <see cref="Count"/> &gt; 0 and until the next change).</summary>
    internal ref Entry First => ref _items[_head];

    private long _queuedBytes;

    /// <summary>The bytes queued as data entries (producers not counted), kept as a running total.</summary>
    internal long QueuedBytes => _queuedBytes;

    /// <summary>Removes <paramref name="count"/> sent bytes from the head data entry.</summary>
    internal void ConsumeFront(int count)
    {
        ref Entry head = ref _items[_head];
        if (count < head.Data.Length)
        {
            head.Data = head.Data[count..];
            _queuedBytes -= count;
        }
        else
        {
            DequeueFront();
        }
    }

    /// <summary>
    /// The head data entry, extended over the following data entries while they sit right after it
    /// in the same array (up to <paramref name="max"/> bytes): one span for one send.
    /// </summary>
    internal ReadOnlySpan<byte> ContiguousHead(int max)
    {
        ref Entry head = ref _items[_head];
        if (!System.Runtime.InteropServices.MemoryMarshal.TryGetArray(head.Data, out ArraySegment<byte> first))
        {
            return head.Data.Span;
        }

        int end = first.Offset + first.Count;
        for (int i = 1; i < _count && end - first.Offset < max; i++)
        {
            ref Entry next = ref _items[(_head + i) & (_items.Length - 1)];
            if (next.IsClose || next.Producer is not null
                || !System.Runtime.InteropServices.MemoryMarshal.TryGetArray(next.Data, out ArraySegment<byte> seg)
                || !ReferenceEquals(seg.Array, first.Array) || seg.Offset != end)
            {
                break;
            }

            end += seg.Count;
        }

        return new ReadOnlySpan<byte>(first.Array, first.Offset, Math.Min(end - first.Offset, Math.Max(max, first.Count)));
    }

    /// <summary>Removes <paramref name="count"/> sent bytes from the head of the queue, across data entries.</summary>
    internal void Consume(int count)
    {
        while (count > 0 && _count > 0)
        {
            int len = _items[_head].Data.Length;
            if (count < len)
            {
                ConsumeFront(count);
                return;
            }

            count -= len;
            DequeueFront();
        }
    }

    internal void Enqueue(in Entry entry)
    {
        _queuedBytes += entry.Data.Length;
        Grow();
        _items[(_head + _count) & (_items.Length - 1)] = entry;
        _count++;
    }

    internal void EnqueueFront(in Entry entry)
    {
        _queuedBytes += entry.Data.Length;
        Grow();
        _head = (_head - 1) & (_items.Length - 1);
        _items[_head] = entry;
        _count++;
    }

    internal void DequeueFront()
    {
        _queuedBytes -= _items[_head].Data.Length;
        _items[_head] = default;
        _head = (_head + 1) & (_items.Length - 1);
        _count--;
        if (_count == 0)
        {
            ResetStage();
        }
    }

    internal void Clear()
    {
        Array.Clear(_items);
        _head = 0;
        _count = 0;
        _queuedBytes = 0;
        ResetStage();
    }

    /// <summary>Copies <paramref name="data"/> into the staging array and returns the copy.</summary>
    internal ReadOnlyMemory<byte> Stage(ReadOnlySpan<byte> data)
    {
        if (_stage.Length - _staged < data.Length)
        {
            // Queued entries still point into the old array; it stays alive through them.
            _stage = new byte[Math.Max(Math.Max(4096, data.Length), _stage.Length * 2)];
            _staged = 0;
        }

        var copy = new Memory<byte>(_stage, _staged, data.Length);
        data.CopyTo(copy.Span);
        _staged += data.Length;
        return copy;
    }

    private void ResetStage()
    {
        _staged = 0;
        if (_stage.Length > KeepStage)
        {
            _stage = [];
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
