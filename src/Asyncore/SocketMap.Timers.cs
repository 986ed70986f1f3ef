using System.Diagnostics;

namespace Asyncore;

public sealed partial class SocketMap
{
    private readonly PriorityQueue<LoopTimer, (long Due, long Seq)> _timers = new();
    private long _timerSeq;

    /// <summary>
    /// Runs <paramref name="callback"/> on the loop's thread once <paramref name="delay"/> has passed.
    /// Timers fire in deadline order (equal deadlines in the order they were set) after the pass's
    /// events, and the loop's wait is cut short so they fire on time even with no socket activity.
    /// Call it on the loop's thread (from another thread: inside <see cref="Post"/>).
    /// </summary>
    /// <param name="delay">How long to wait (zero or more).</param>
    /// <param name="callback">The work; an exception it throws is logged and the loop goes on (except <see cref="ExitNowException"/>).</param>
    /// <returns>A handle whose <see cref="LoopTimer.Cancel"/> stops it.</returns>
    /// <remarks>Python: none in asyncore (Twisted's callLater).</remarks>
    public LoopTimer CallLater(TimeSpan delay, Action callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        var timer = new LoopTimer(callback);
        Schedule(timer, Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency));
        return timer;
    }

    /// <summary>How many timers are queued (cancelled ones included until their deadline passes).</summary>
    public int PendingTimers => _timers.Count;

    internal void Schedule(LoopTimer timer, long dueTicks)
    {
        timer.DueTicks = dueTicks;
        _timers.Enqueue(timer, (dueTicks, ++_timerSeq));
    }

    /// <summary>The wait a pass may take: <paramref name="timeoutMs"/>, shortened to the next deadline.</summary>
    internal int TimeoutUntilNextTimer(int timeoutMs)
    {
        while (_timers.TryPeek(out LoopTimer? first, out _) && first.Cancelled)
        {
            _timers.Dequeue();
        }

        if (!_timers.TryPeek(out _, out (long Due, long Seq) next))
        {
            return timeoutMs;
        }

        long ms = Math.Max(0, (long)Math.Ceiling((next.Due - Stopwatch.GetTimestamp()) * 1000.0 / Stopwatch.Frequency));
        return timeoutMs < 0 ? (int)Math.Min(ms, int.MaxValue) : (int)Math.Min(ms, timeoutMs);
    }

    /// <summary>Runs every timer that is due, in deadline order.</summary>
    internal void RunTimers()
    {
        long now = Stopwatch.GetTimestamp();
        while (_timers.TryPeek(out LoopTimer? timer, out (long Due, long Seq) key) && key.Due <= now)
        {
            _timers.Dequeue();
            if (timer.Cancelled || timer.DueTicks != key.Due)
            {
                continue; // cancelled, or rescheduled to a later deadline (its newer entry stays queued)
            }

            timer.Fired = true;
            try
            {
                timer.Callback();
            }
            catch (ExitNowException)
            {
                throw;
            }
            catch (Exception e)
            {
                LogLoopError(e, "a timer callback");
            }
        }
    }
}
