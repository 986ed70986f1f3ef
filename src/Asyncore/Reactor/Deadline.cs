using System.Diagnostics;

namespace Asyncore.Reactor;

/// <summary>
/// One deadline of a channel's (idle, message, slow-consumer, linger) on its loop's timer heap.
/// Moving it later costs a field write (the queued timer notices when it fires and re-queues itself
/// for the new deadline, Redis-style lazy expiry); moving it earlier re-queues at once; clearing it
/// takes the timer off the heap at once. Deadlines are in <see cref="Stopwatch"/> ticks and
/// saturate: a delay too long to represent means "never" and queues nothing.
/// </summary>
internal sealed class Deadline
{
    /// <summary>The tick value that means "never".</summary>
    internal const long Never = long.MaxValue;

    private readonly LoopTimer _timer;
    private readonly Action _expired;
    private TimerHeap? _heap;
    private long _due = Never;
    private bool _armed;

    /// <param name="expired">Runs on the loop's thread once the deadline has passed (not again until set anew).</param>
    internal Deadline(Action expired)
    {
        _expired = expired;
        _timer = new LoopTimer(OnTimer);
    }

    /// <summary>Whether the deadline is set.</summary>
    internal bool Armed => _armed;

    /// <summary>The deadline, in ticks (<see cref="Never"/> when unset).</summary>
    internal long Due => _armed ? _due : Never;

    /// <summary>Now, in <see cref="Stopwatch"/> ticks.</summary>
    internal static long Now => Stopwatch.GetTimestamp();

    /// <summary><paramref name="delay"/> after <paramref name="now"/>, saturating at <see cref="Never"/>.</summary>
    internal static long After(long now, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            return now;
        }

        double ticks = delay.TotalSeconds * Stopwatch.Frequency;
        return ticks >= (double)(Never - now) ? Never : now + (long)ticks;
    }

    /// <summary><paramref name="ticks"/> (a value <see cref="After"/> gave for a start of 0) after <paramref name="now"/>, saturating at <see cref="Never"/>.</summary>
    internal static long AfterTicks(long now, long ticks) => ticks >= Never - now ? Never : now + ticks;

    /// <summary>Sets (or moves) the deadline.</summary>
    internal void Set(TimerHeap heap, long due)
    {
        _armed = true;
        _due = due;
        if (due == Never)
        {
            _timer.Heap?.Remove(_timer);
            return;
        }

        if (!_timer.Scheduled || due < _timer.Due || !ReferenceEquals(_heap, heap))
        {
            _heap = heap;
            heap.Add(_timer, due);
        }
    }

    /// <summary>Moves an armed deadline without a heap operation when it only moves later (the hot path: a channel moved bytes).</summary>
    internal void Extend(long due)
    {
        if (_armed && due >= _due)
        {
            _due = due;
        }
        else if (_armed && _heap is { } heap)
        {
            Set(heap, due);
        }
    }

    /// <summary>Unsets the deadline and takes its timer off the heap.</summary>
    internal void Clear()
    {
        _armed = false;
        _due = Never;
        _timer.Heap?.Remove(_timer);
    }

    private void OnTimer()
    {
        if (!_armed)
        {
            return;
        }

        if (Now < _due)
        {
            if (_due != Never)
            {
                _heap!.Add(_timer, _due); // moved later since it was queued
            }

            return;
        }

        _armed = false;
        _due = Never;
        _expired();
    }
}
