using System.Collections.Concurrent;
using Asyncore.Polling;
using Microsoft.Extensions.Logging;

namespace Asyncore.Reactor;

/// <content>Interest and dispatch: the predicates asked, the backend told, the wait, and readiness handed to channels.</content>
internal sealed partial class ReactorCore
{
    /// <summary>Asks each channel that overrides its predicates, then each changed row, at most once this pass.</summary>
    private void AskPredicates(IPoller poller, bool selectFlavour, long pass)
    {
        int n = _askEveryPass.Count;
        if (n > 0)
        {
            if (_askSnapshot.Length < n)
            {
                _askSnapshot = new Registration[Math.Max(n, _askSnapshot.Length * 2)];
            }

            _askEveryPass.CopyTo(_askSnapshot);
            try
            {
                for (int i = 0; i < n; i++)
                {
                    Evaluate(_askSnapshot[i], poller, selectFlavour, pass);
                }
            }
            finally
            {
                Array.Clear(_askSnapshot, 0, n);
            }
        }

        (_changed, _changedSpare) = (_changedSpare, _changed);
        try
        {
            foreach (Registration reg in _changedSpare)
            {
                reg.Changed = false;
                Evaluate(reg, poller, selectFlavour, pass);
            }
        }
        finally
        {
            foreach (Registration reg in _changedSpare)
            {
                reg.Changed = false;
            }

            _changedSpare.Clear();
        }
    }

    /// <summary>Asks one channel's predicates and, where the answer changed, tells the backend.</summary>
    private static void Evaluate(Registration reg, IPoller poller, bool selectFlavour, long pass)
    {
        if (reg.AskedPass == pass || reg.Channel is not { } obj || obj.Fileno < 0)
        {
            return; // asked already, or left the map (closed by an earlier channel's callback)
        }

        reg.AskedPass = pass;
        // A listener out of descriptors is not watched for reading until its retry delay passes
        // (Dispatcher.AcceptExhausted): level-triggered readiness would otherwise spin.
        bool r = EventDispatch.Ask(obj, writable: false) && !obj.AcceptPaused;
        bool rawW = EventDispatch.Ask(obj, writable: true);
        if (reg.Channel is null)
        {
            return; // a predicate closed it
        }

        bool w = rawW && !obj.Accepting;
        PollFlags flags = selectFlavour
            // asyncore.poll: r, w (never for a listener), and e for anyone readable or writable.
            ? (r ? PollFlags.In : 0) | (w ? PollFlags.Out : 0) | (r || rawW ? PollFlags.Pri : 0)
            // asyncore.poll2: POLLIN|POLLPRI when readable, POLLOUT when writable and not listening.
            : (r ? PollFlags.In | PollFlags.Pri : 0) | (w ? PollFlags.Out : 0);
        if (flags != reg.Mask && poller.KeepsInterest)
        {
            try
            {
                poller.SetInterest(new PollTarget(reg, obj.Socket, obj.PollOwner, !reg.AskEveryPass && obj.ReceiveAheadAllowed, obj.LibraryReadSize), flags);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                // The backend refused this descriptor (closed behind the channel's back: EBADF): that channel's fault, not the loop's.
                reg.Armed = false;
                EventDispatch.Fail(obj, e);
                return;
            }
        }

        reg.Mask = flags;
        reg.Armed = true;
    }

    /// <summary>select keeps nothing between passes: hand it every watched descriptor.</summary>
    private void Rebuild(IPoller poller)
    {
        foreach (Registration reg in _table.Values)
        {
            if (reg.Mask == PollFlags.None || reg.Channel is not { } obj)
            {
                continue;
            }

            if (obj.DescriptorClosedElsewhere)
            {
                _closedElsewhere.Add(reg); // select would throw on it, poll(2) might watch a reused number
                continue;
            }

            poller.SetInterest(new PollTarget(reg, obj.Socket, obj.PollOwner), reg.Mask);
        }
    }

    /// <summary>
    /// The backend's wait. epoll never reports a descriptor that was closed under it (the kernel drops
    /// it from the set silently), and poll(2) watches whatever socket took a freed number, so the table
    /// is checked for sockets disposed behind their channel's back once a second, after whichever wait
    /// ends past that mark; a long wait is cut into one-second slices so an idle loop checks too.
    /// </summary>
    private Span<PollEvent> Wait(IPoller poller, int timeoutMs)
    {
        int want = Math.Max(16, (_table.Count + 1) * 3);
        if (_events.Length < want)
        {
            _events = new PollEvent[Math.Max(want, _events.Length * 2)];
        }

        if (!poller.KeepsInterest || _table.Count == 0)
        {
            return _events.AsSpan(0, poller.Wait(timeoutMs, _events));
        }

        long start = Deadline.Now;
        while (true)
        {
            int left = timeoutMs < 0 ? -1 : Math.Max(0, timeoutMs - (int)System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            bool sliced = left < 0 || left > SweepMs;
            int n = poller.Wait(sliced ? SweepMs : left, _events);
            // Swept by the clock, not only when a wait comes back empty: a busy loop, or one driven with
            // short timeouts, must notice a disposed socket too.
            long now = Deadline.Now;
            if (now >= _nextSweep)
            {
                _nextSweep = now + SweepTicks;
                FindClosedElsewhere();
            }

            if (n > 0 || !sliced || _closedElsewhere.Count > 0)
            {
                return _events.AsSpan(0, n);
            }
        }
    }

    private static readonly long SweepTicks = System.Diagnostics.Stopwatch.Frequency * SweepMs / 1000;
    private long _nextSweep;

    private int FindClosedElsewhere()
    {
        foreach (Registration reg in _table.Values)
        {
            if (reg.Armed && reg.Channel is { } obj && obj.DescriptorClosedElsewhere)
            {
                _closedElsewhere.Add(reg);
            }
        }

        return _closedElsewhere.Count;
    }

    /// <summary>A socket disposed behind its channel's back: the channel hears of it as poll(2)'s POLLNVAL (HandleClose).</summary>
    private void DispatchClosedElsewhere()
    {
        if (_closedElsewhere.Count == 0)
        {
            return;
        }

        try
        {
            foreach (Registration reg in _closedElsewhere)
            {
                if (reg.Channel is { } obj)
                {
                    EventDispatch.ReadWrite(obj, PollFlags.Nval);
                }
            }
        }
        finally
        {
            _closedElsewhere.Clear();
        }
    }

    private void DispatchSelect(ReadOnlySpan<PollEvent> events, PollFlags which)
    {
        foreach (PollEvent ev in events)
        {
            if ((ev.Flags & which) == 0 || Lookup(ev.Fd) is not { } obj)
            {
                continue;
            }

            if (which == PollFlags.In)
            {
                EventDispatch.Read(obj);
            }
            else if (which == PollFlags.Out)
            {
                EventDispatch.Write(obj);
            }
            else
            {
                EventDispatch.Exception(obj);
            }
        }
    }

    /// <summary>
    /// The channel an event is for: the one whose row was armed before the wait. A channel closed
    /// earlier in the pass has no row; one that reused its descriptor within the pass has a row that
    /// is not armed yet, so a stale event never reaches it.
    /// </summary>
    private Dispatcher? Lookup(nint fd) =>
        _table.TryGetValue(fd, out Registration? reg) && reg.Armed ? reg.Channel : null;
}
