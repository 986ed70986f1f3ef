using Asyncore.Reactor;

namespace Asyncore;

/// <summary>A callback scheduled on a loop with <see cref="SocketMap.CallLater"/>; cancel it with <see cref="Cancel"/>.</summary>
public sealed class LoopTimer
{
    internal LoopTimer(Action callback) => Callback = callback;

    internal Action Callback { get; }

    /// <summary>When it is due, in <see cref="System.Diagnostics.Stopwatch"/> ticks (valid while scheduled).</summary>
    internal long Due;

    /// <summary>Order among equal deadlines: the order they were set in.</summary>
    internal long Seq;

    /// <summary>Its place in <see cref="Heap"/>, -1 while not scheduled.</summary>
    internal int HeapIndex = -1;

    /// <summary>The heap it is queued in, null while not scheduled.</summary>
    internal TimerHeap? Heap;

    /// <summary>Whether it is queued on a loop now.</summary>
    internal bool Scheduled => HeapIndex >= 0;

    /// <summary>Whether <see cref="Cancel"/> was called.</summary>
    public bool Cancelled { get; private set; }

    /// <summary>Whether it has run.</summary>
    public bool Fired { get; internal set; }

    /// <summary>
    /// Stops the callback from running, if it has not run yet, and takes the timer off its loop at
    /// once, so the loop holds no reference to it or to what its callback captured. Call it on the
    /// loop's thread.
    /// </summary>
    public void Cancel()
    {
        Cancelled = true;
        Heap?.Remove(this);
    }
}
