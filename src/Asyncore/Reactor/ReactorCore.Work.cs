using System.Collections.Concurrent;
using Asyncore.Polling;
using Microsoft.Extensions.Logging;

namespace Asyncore.Reactor;

/// <content>Posted work, timers and the end-of-pass hooks: what a pass runs besides readiness.</content>
internal sealed partial class ReactorCore
{
    // ---- posted work and timers ------------------------------------------------------------

    /// <summary>Any thread: queue work for the loop's thread and wake the loop.</summary>
    internal void Post(Action action)
    {
        _posted.Enqueue(action);
        Interlocked.MemoryBarrier(); // the enqueue is visible before the waker is read (see EnsureWaker)
        Volatile.Read(ref _waker)?.Wake();
    }

    /// <summary>Loop thread: a channel's output waits for the end of this pass.</summary>
    internal void AtPassEnd(IPassEndHook hook) => _passEnd.Add(hook);

    private Waker EnsureWaker()
    {
        Waker? w = _waker;
        if (w is null)
        {
            w = new Waker();
            // A full fence between publishing the waker and reading the queue (Post does the
            // mirror: enqueue, then read the waker): one side or the other sees the work.
            Interlocked.Exchange(ref _waker, w);
            if (!_posted.IsEmpty)
            {
                w.Wake();
            }
        }

        return w;
    }

    /// <returns>Whether any posted work ran.</returns>
    private bool RunPosted()
    {
        if (_posted.IsEmpty)
        {
            return false; // every pass asks: IsEmpty is a read, Count walks the queue's segments
        }

        int n = _posted.Count;
        while (n-- > 0 && _posted.TryDequeue(out Action? action))
        {
            try
            {
                action();
            }
            catch (ExitNowException)
            {
                throw;
            }
            catch (Exception e)
            {
                LogLoopError(e, "a posted action");
            }
        }

        return true;
    }

    /// <summary>The wait a pass may take: <paramref name="timeoutMs"/> (negative: forever), cut to the next deadline.</summary>
    private int TimeoutUntilNextTimer(int timeoutMs)
    {
        long due = _timers.TryPeekDue(out long timer) ? timer : Deadline.Never;
        if (_memoryReturn is { WakeDue: var memory } && memory < due)
        {
            due = memory; // a burst waits to be handed back once the loop is quiet
        }

        if (due == Deadline.Never)
        {
            return timeoutMs;
        }

        double ms = Math.Ceiling((due - Deadline.Now) * 1000.0 / System.Diagnostics.Stopwatch.Frequency);
        long wait = ms <= 0 ? 0 : ms >= int.MaxValue ? int.MaxValue : (long)ms;
        return timeoutMs < 0 ? (int)wait : (int)Math.Min(wait, timeoutMs);
    }

    private void RunTimers()
    {
        long now = Deadline.Now;
        while (_timers.PopDue(now) is { } timer)
        {
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

    /// <summary>
    /// Runs every end-of-pass hook, each once, whatever another one throws: an
    /// <see cref="ExitNowException"/> from one channel's flush ends the loop only after every other
    /// channel that answered in this pass has sent (in CPython each of them sent from its own handler).
    /// </summary>
    /// <returns>The first <see cref="ExitNowException"/> a hook threw, for the caller to rethrow once the pass is finished.</returns>
    private ExitNowException? RunPassEndHooks()
    {
        ExitNowException? exit = null;
        while (_passEnd.Count > 0)
        {
            (_passEnd, _passEndSpare) = (_passEndSpare, _passEnd);
            for (int i = 0; i < _passEndSpare.Count; i++)
            {
                try
                {
                    _passEndSpare[i].AtPassEnd();
                }
                catch (ExitNowException e)
                {
                    exit ??= e;
                }
                catch (Exception e)
                {
                    LogLoopError(e, "an end-of-pass send");
                }
            }

            _passEndSpare.Clear();
        }

        return exit;
    }

    /// <summary>Logs an exception from work the loop runs for nobody's channel (posted actions, timers); the loop goes on.</summary>
    internal void LogLoopError(Exception e, string what)
    {
        if (_map.Logger is { } logger)
        {
            logger.LogError(e, "{What} threw; the loop goes on", what);
        }
        else
        {
            Console.Error.WriteLine($"error: {what} threw {e}");
        }
    }


    /// <summary>
    /// The end-of-pass hooks queued in a pass (each answering channel adds itself once), in slots of
    /// a struct so that adding one skips the covariance check a store into an interface array pays.
    /// </summary>
    private sealed class HookList
    {
        private Slot[] _items = new Slot[16];

        internal int Count { get; private set; }

        internal IPassEndHook this[int index] => _items[index].Hook;

        internal void Add(IPassEndHook hook)
        {
            if (Count == _items.Length)
            {
                Array.Resize(ref _items, _items.Length * 2);
            }

            _items[Count++].Hook = hook;
        }

        internal void Clear()
        {
            Array.Clear(_items, 0, Count);
            Count = 0;
        }

        private struct Slot
        {
            internal IPassEndHook Hook;
        }
    }
}
