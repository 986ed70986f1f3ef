using System.Collections.Concurrent;
using Asyncore.Polling;
using Microsoft.Extensions.Logging;

namespace Asyncore.Reactor;

/// <summary>
/// The loop's state, owned in one place (Redis's <c>aeEventLoop</c>): the descriptor table with each
/// descriptor's interest mask, the list of rows whose interest may have changed, the backend, the
/// wake-up pair and the posted queue, the timer heap and the end-of-pass hooks. A
/// <see cref="SocketMap"/> is the dict asyncore has and tells this table who joined and left;
/// <see cref="EventLoop"/> asks it for passes. Channels only say that something changed
/// (<see cref="Dispatcher.InterestChanged"/>).
/// </summary>
/// <remarks>
/// One interest tracker serves every backend: a pass asks the predicates of the channels that
/// override them (every pass, as CPython does) and of the rows marked changed, each at most once;
/// epoll and poll(2) are told only the masks that changed (ADD/MOD/DEL; a pollfd slot edited), select rebuilds its sets
/// from the masks. The changed list is emptied on every pass of every backend and a row that left
/// the map drops its channel, so nothing the table holds outlives the channel's stay in the map.
/// </remarks>
internal sealed partial class ReactorCore : IDisposable
{
    /// <summary>How often epoll checks for sockets disposed behind their channel's back (the kernel forgets them without an event).</summary>
    private const int SweepMs = 1000;

    private readonly SocketMap _map;
    private readonly Dictionary<nint, Registration> _table = new();
    private readonly List<Registration> _askEveryPass = new();
    private Registration[] _askSnapshot = new Registration[16];
    private List<Registration> _changed = new();
    private List<Registration> _changedSpare = new();
    private readonly List<Registration> _closedElsewhere = new();
    private readonly TimerHeap _timers = new();
    private readonly ConcurrentQueue<Action> _posted = new();
    private HookList _passEnd = new();
    private HookList _passEndSpare = new();
    private PollEvent[] _events = new PollEvent[16];
    private Waker? _waker;
    private IPoller? _poller;
    private PollerKind _pollerKind;
    private long _pass;
    private long _passNow;
    private bool _clockFresh;

    internal ReactorCore(SocketMap map) => _map = map;

    private Registration? _wakerRow;

    /// <summary>The wake-up pair's row: watched by every backend, never in the map.</summary>
    private Registration WakerRow(Waker waker)
    {
        if (_wakerRow is null || _wakerRow.Fd != waker.Fd)
        {
            _wakerRow = new Registration(this, waker.Fd, null, askEveryPass: false);
        }

        return _wakerRow;
    }

    /// <summary>The row of a descriptor: a channel's, the wake-up pair's, or null.</summary>
    internal Registration? RowOf(nint fd) => _table.TryGetValue(fd, out Registration? reg) ? reg : _wakerRow is { } w && w.Fd == fd ? w : null;

    /// <summary>The map's graceful drain, while one runs: it looks for channels that became idle at the end of every pass.</summary>
    internal MapDrain? Drain;

    /// <summary>
    /// Now, in <see cref="System.Diagnostics.Stopwatch"/> ticks: from the wait's return to the end
    /// of the pass's hooks, the time read once when the wait returned; otherwise the clock.
    /// </summary>
    internal long Now => _clockFresh ? _passNow : Deadline.Now;

    /// <summary>True while a pass dispatches events, posted work and timers: replies wait for its end.</summary>
    internal bool InPass { get; private set; }

    /// <summary>Whether the end-of-pass hooks are running (a hook added now runs before the pass ends).</summary>
    internal bool InPassEnd { get; private set; }

    /// <summary>The loop's timers.</summary>
    internal TimerHeap Timers => _timers;

    /// <summary>The backend in use, null before the first pass.</summary>
    internal IPoller? Poller => _poller;

    /// <summary>The transport the backend makes for a channel, null before the map's first pass.</summary>
    internal Transport.ChannelTransport? TransportFor(Dispatcher channel) => _poller?.TransportFor(channel);

    /// <summary>The kind of backend the map runs on, null before its first pass.</summary>
    internal PollerKind? BoundKind => _poller is null ? null : _pollerKind;

    /// <summary>The wake-up pair, once a pass has made it (tests).</summary>
    internal Waker? WakerForTests => _waker;

    /// <summary>The name of the backend in use ("epoll", "io_uring", ...), null before the first pass.</summary>
    internal string? BackendName => _poller?.Name;

    /// <summary>How many descriptors the table holds (the map's count).</summary>
    internal int Count => _table.Count;

    // ---- the descriptor table -------------------------------------------------------------

    /// <summary>A channel joined the map under <paramref name="fd"/> (replacing whatever row was there).</summary>
    internal void Register(nint fd, Dispatcher channel)
    {
        if (_table.TryGetValue(fd, out Registration? old))
        {
            if (ReferenceEquals(old.Channel, channel))
            {
                return;
            }

            Drop(old);
        }

        var reg = new Registration(this, fd, channel, !PredicateKind.IsLibraryOwned(channel));
        _table[fd] = reg;
        channel.Registration = reg;
        if (reg.AskEveryPass)
        {
            reg.AskIndex = _askEveryPass.Count;
            _askEveryPass.Add(reg);
        }
        else
        {
            MarkChanged(reg);
        }
    }

    /// <summary>The channel under <paramref name="fd"/> left the map.</summary>
    internal void Unregister(nint fd)
    {
        if (_table.TryGetValue(fd, out Registration? reg))
        {
            Drop(reg);
        }
    }

    /// <summary>Every channel left the map.</summary>
    internal void UnregisterAll()
    {
        foreach (Registration reg in _table.Values)
        {
            Forget(reg);
        }

        _table.Clear();
        _askEveryPass.Clear();
    }

    private void Drop(Registration reg)
    {
        _table.Remove(reg.Fd);
        if (reg.AskIndex >= 0)
        {
            // Swap-remove: the last row takes this one's place.
            int last = _askEveryPass.Count - 1;
            Registration moved = _askEveryPass[last];
            _askEveryPass[reg.AskIndex] = moved;
            moved.AskIndex = reg.AskIndex;
            _askEveryPass.RemoveAt(last);
        }

        Forget(reg);
    }

    private void Forget(Registration reg)
    {
        reg.AskIndex = -1;
        if (reg.Channel is { } channel && ReferenceEquals(channel.Registration, reg))
        {
            channel.Registration = null;
        }

        // io_uring hears of every channel that leaves, watched or not: its send goes to the kernel and its receive is cancelled before its socket closes.
        bool ringKnows = _poller is { HearsEveryRemoval: true };
        reg.Channel = null;
        reg.Armed = false;
        if (reg.Mask != PollFlags.None || ringKnows)
        {
            reg.Mask = PollFlags.None;
            _poller?.Remove(reg);
        }
    }

    /// <summary>The one "state changed" entry: the row is asked again on the next pass.</summary>
    internal void MarkChanged(Registration reg)
    {
        if (!reg.Changed)
        {
            reg.Changed = true;
            _changed.Add(reg);
        }
    }

    // ---- one pass ---------------------------------------------------------------------------

    /// <summary>
    /// One pass: run posted work, ask the predicates that may have changed, bring the backend up to
    /// date, wait, dispatch, run due timers, then the end-of-pass hooks.
    /// </summary>
    internal void RunPass(PollerKind kind, double timeout, bool evenIfEmpty)
    {
        if (_table.Count == 0 && !evenIfEmpty)
        {
            return;
        }

        bool entered = EnterRunning();
        try
        {
            RunPassOwned(kind, timeout, evenIfEmpty);
        }
        finally
        {
            if (entered)
            {
                LeaveRunning();
            }
        }
    }

    private void RunPassOwned(PollerKind kind, double timeout, bool evenIfEmpty)
    {

        Waker waker = EnsureWaker();
        bool ranPosted = RunPosted();
        if (_table.Count == 0 && !evenIfEmpty)
        {
            return;
        }

        IPoller poller = PollerFor(kind);
        bool selectFlavour = kind == PollerKind.Select;
        long pass = ++_pass;

        AskPredicates(poller, selectFlavour, pass);
        if (!poller.KeepsInterest)
        {
            Rebuild(poller);
        }

        poller.SetInterest(new PollTarget(WakerRow(waker), waker.Socket, waker), PollFlags.In);

        // asyncore.poll sleeps when nobody is interested (select() rejects three empty lists);
        // here that sleep is a wait on the wake-up socket, so a Post from another thread ends it.
        // Posted work that ran at the start of the pass may have asked the loop to stop or made new
        // work: this pass only looks, it does not sleep, so the caller sees the change at once.
        int timeoutMs = ranPosted || _closedElsewhere.Count > 0 ? 0 : TimeoutUntilNextTimer(timeout < 0 ? -1 : (int)Math.Min(int.MaxValue, timeout * 1000));
        Span<PollEvent> events = Wait(poller, timeoutMs);
        int eventCount = events.Length;

        _passNow = Deadline.Now;
        _clockFresh = true;
        InPass = true;
        try
        {
            foreach (PollEvent ev in events)
            {
                if (ev.Fd == waker.Fd)
                {
                    waker.Drain();
                    RunPosted();
                    break;
                }
            }

            DispatchClosedElsewhere();
            if (selectFlavour)
            {
                DispatchSelect(events, PollFlags.In);
                DispatchSelect(events, PollFlags.Out);
                DispatchSelect(events, PollFlags.Pri);
            }
            else
            {
                foreach (PollEvent ev in events)
                {
                    if (Lookup(ev.Fd) is { } obj)
                    {
                        // poll(2) keeps watching a number after a socket was disposed behind its channel's
                        // back, and the number may belong to another socket by now: that channel hears POLLNVAL.
                        EventDispatch.ReadWrite(obj, obj.DescriptorClosedElsewhere ? PollFlags.Nval : ev.Flags);
                    }
                }
            }

            RunTimers();
        }
        finally
        {
            InPass = false;
            try
            {
                InPassEnd = true;
                ExitNowException? exit;
                try
                {
                    exit = RunPassEndHooks();
                }
                finally
                {
                    InPassEnd = false;
                }

                Drain?.AtPassEnd();
                MemoryAfterPass(eventCount);
                if (exit is not null)
                {
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(exit);
                }
            }
            finally
            {
                _clockFresh = false;
            }
        }
    }

    /// <summary>Releases the backend's kernel resources (the epoll descriptor) and the wake-up pair.</summary>
    public void Dispose()
    {
        CheckRingRemoval("SocketMap.Dispose");
        _poller?.Dispose();
        _poller = null;
        _wakerRow = null;
        foreach (Registration reg in _table.Values)
        {
            reg.Mask = PollFlags.None;
            reg.Armed = false;
            reg.ResetKernelState();
            MarkChanged(reg);
        }

        Interlocked.Exchange(ref _waker, null)?.Dispose();
    }

}
