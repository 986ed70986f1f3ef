using Asyncore.Reactor;

namespace Asyncore;

public sealed partial class SocketMap
{
    /// <summary>
    /// Runs <paramref name="callback"/> on the loop's thread once <paramref name="delay"/> has passed.
    /// Timers fire in deadline order (equal deadlines in the order they were set) after the pass's
    /// events, and the loop's wait is cut short so they fire on time even with no socket activity.
    /// A delay too long to represent (<see cref="TimeSpan.MaxValue"/>) never fires and queues nothing.
    /// Call it on the loop's thread (from another thread: inside <see cref="Post"/>).
    /// </summary>
    /// <param name="delay">How long to wait (zero or more).</param>
    /// <param name="callback">The work; an exception it throws is logged and the loop goes on (except <see cref="ExitNowException"/>).</param>
    /// <returns>A handle whose <see cref="LoopTimer.Cancel"/> stops it and takes it off the loop at once.</returns>
    /// <exception cref="InvalidOperationException">The map's loop is running on another thread (use <see cref="Post"/>).</exception>
    /// <remarks>Python: none in asyncore (Twisted's callLater).</remarks>
    public LoopTimer CallLater(TimeSpan delay, Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        Reactor.CheckLoopThread("SocketMap.CallLater");
        var timer = new LoopTimer(callback);
        long due = Deadline.After(Deadline.Now, delay);
        if (due != Deadline.Never)
        {
            Reactor.Timers.Add(timer, due);
        }

        return timer;
    }

    /// <summary>How many timers are queued on this map's loop (a cancelled timer leaves at once).</summary>
    public int PendingTimers => Reactor.Timers.Count;
}
