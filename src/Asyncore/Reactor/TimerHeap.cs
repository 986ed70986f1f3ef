namespace Asyncore.Reactor;

/// <summary>
/// The loop's timers: a binary min-heap on (deadline, order set) whose entries know their index, so
/// a cancelled timer leaves the heap at once (libuv's timer heap, <c>uv_timer_stop</c>) instead of
/// staying queued, with whatever its callback holds, until its deadline. The array shrinks again
/// after a burst.
/// </summary>
internal sealed class TimerHeap
{
    private const int MinCapacity = 16;

    private LoopTimer[] _items = new LoopTimer[MinCapacity];
    private int _count;
    private long _seq;

    /// <summary>How many timers are queued.</summary>
    internal int Count => _count;

    /// <summary>Queues <paramref name="timer"/> for <paramref name="due"/>, moving it if it is queued already.</summary>
    internal void Add(LoopTimer timer, long due)
    {
        if (timer.Heap is { } other)
        {
            other.Remove(timer);
        }

        timer.Due = due;
        timer.Seq = ++_seq;
        timer.Heap = this;
        if (_count == _items.Length)
        {
            Array.Resize(ref _items, _items.Length * 2);
        }

        _items[_count] = timer;
        timer.HeapIndex = _count;
        _count++;
        SiftUp(_count - 1);
    }

    /// <summary>Takes <paramref name="timer"/> out, wherever it is in the heap (no-op when not queued here).</summary>
    internal void Remove(LoopTimer timer)
    {
        int i = timer.HeapIndex;
        if (i < 0 || !ReferenceEquals(timer.Heap, this))
        {
            return;
        }

        _count--;
        LoopTimer last = _items[_count];
        _items[_count] = null!;
        timer.HeapIndex = -1;
        timer.Heap = null;
        if (i < _count)
        {
            _items[i] = last;
            last.HeapIndex = i;
            SiftDown(i);
            SiftUp(last.HeapIndex);
        }

        if (_items.Length > MinCapacity && _count < _items.Length / 4)
        {
            Array.Resize(ref _items, Math.Max(MinCapacity, _items.Length / 2));
        }
    }

    /// <summary>The earliest deadline, if any timer is queued.</summary>
    internal bool TryPeekDue(out long due)
    {
        if (_count == 0)
        {
            due = 0;
            return false;
        }

        due = _items[0].Due;
        return true;
    }

    /// <summary>Takes out and returns the earliest timer if it is due at <paramref name="now"/>.</summary>
    internal LoopTimer? PopDue(long now)
    {
        if (_count == 0 || _items[0].Due > now)
        {
            return null;
        }

        LoopTimer first = _items[0];
        Remove(first);
        return first;
    }

    private static bool Before(LoopTimer a, LoopTimer b) => a.Due < b.Due || (a.Due == b.Due && a.Seq < b.Seq);

    private void SiftUp(int i)
    {
        LoopTimer t = _items[i];
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            LoopTimer p = _items[parent];
            if (!Before(t, p))
            {
                break;
            }

            _items[i] = p;
            p.HeapIndex = i;
            i = parent;
        }

        _items[i] = t;
        t.HeapIndex = i;
    }

    private void SiftDown(int i)
    {
        LoopTimer t = _items[i];
        while (true)
        {
            int child = (2 * i) + 1;
            if (child >= _count)
            {
                break;
            }

            if (child + 1 < _count && Before(_items[child + 1], _items[child]))
            {
                child++;
            }

            LoopTimer c = _items[child];
            if (!Before(c, t))
            {
                break;
            }

            _items[i] = c;
            c.HeapIndex = i;
            i = child;
        }

        _items[i] = t;
        t.HeapIndex = i;
    }
}
