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
internal sealed class ReactorCore : IDisposable
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

    /// <summary>
    /// Now, in <see cref="System.Diagnostics.Stopwatch"/> ticks: from the wait's return to the end
    /// of the pass's hooks, the time read once when the wait returned; otherwise the clock.
    /// </summary>
    internal long Now => _clockFresh ? _passNow : Deadline.Now;

    /// <summary>True while a pass dispatches events, posted work and timers: replies wait for its end.</summary>
    internal bool InPass { get; private set; }

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
        bool ringKnows = _poller is IoUringPoller;
        reg.Channel = null;
        reg.Armed = false;
        if (reg.Mask != PollFlags.None || ringKnows)
        {
            reg.Mask = PollFlags.None;
            _poller?.Remove(reg.Fd);
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
        if (!_timers.TryPeekDue(out long due))
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

        poller.SetInterest(new PollTarget(waker.Fd, waker.Socket, waker), PollFlags.In);

        // asyncore.poll sleeps when nobody is interested (select() rejects three empty lists);
        // here that sleep is a wait on the wake-up socket, so a Post from another thread ends it.
        // Posted work that ran at the start of the pass may have asked the loop to stop or made new
        // work: this pass only looks, it does not sleep, so the caller sees the change at once.
        int timeoutMs = ranPosted || _closedElsewhere.Count > 0 ? 0 : TimeoutUntilNextTimer(timeout < 0 ? -1 : (int)Math.Min(int.MaxValue, timeout * 1000));
        Span<PollEvent> events = Wait(poller, timeoutMs);

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
                ExitNowException? exit = RunPassEndHooks();
                Drain?.AtPassEnd();
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

    /// <summary>The map's graceful drain, while one runs: it looks for channels that became idle at the end of every pass.</summary>
    internal MapDrain? Drain;

    /// <summary>
    /// The backend of a kind. A map is bound to io_uring, and to the thread of its first io_uring
    /// pass, for its life: the ring holds receives and sends in the kernel that no other backend or
    /// thread can take over, so a pass with another kind, or from another thread, throws. select,
    /// poll(2) and epoll keep nothing in flight, so a map may move between them (as CPython's
    /// module-level map moves between select and poll): the new backend is told every row again.
    /// </summary>
    /// <exception cref="InvalidOperationException">The map is bound to io_uring and this pass asks for another kind or runs on another thread, or the map ran on another kind and this pass asks for io_uring.</exception>
    private IPoller PollerFor(PollerKind kind)
    {
        if (_poller is not null)
        {
            if (_pollerKind == kind && _poller.UsableHere && (kind != PollerKind.IoUring || Environment.CurrentManagedThreadId == _boundThread))
            {
                return _poller;
            }

            CheckBinding(kind);
        }

        _poller?.Dispose();
        _poller = PollerFactory.Create(kind, SayFellBack);
        _pollerKind = kind;
        _boundThread = kind == PollerKind.IoUring ? Environment.CurrentManagedThreadId : 0;
        _boundThreadName = kind == PollerKind.IoUring ? Thread.CurrentThread.Name : null;
        foreach (Registration reg in _table.Values)
        {
            reg.Mask = PollFlags.None; // masks differ between the select and poll flavours
            reg.Armed = false;
            MarkChanged(reg);
        }

        return _poller;
    }

    private void CheckBinding(PollerKind kind)
    {
        if (_pollerKind == PollerKind.IoUring && kind != PollerKind.IoUring)
        {
            throw new InvalidOperationException($"this map is bound to io_uring (its first pass ran on it), and a pass asked for {KindName(kind)}: the ring holds receives and sends in the kernel that another backend cannot take over. Run the map on one backend for its life.");
        }

        if (kind == PollerKind.IoUring && _pollerKind != PollerKind.IoUring)
        {
            throw new InvalidOperationException($"this map ran on {KindName(_pollerKind)}, and a pass asked for io_uring: a map that uses io_uring must use it from its first pass. Run the map on one backend for its life.");
        }

        if (kind == PollerKind.IoUring && Environment.CurrentManagedThreadId != _boundThread)
        {
            throw new InvalidOperationException($"this map's io_uring backend belongs to {ThreadName(_boundThread, _boundThreadName)}, the thread of its first pass, and a pass ran on {ThreadName(Environment.CurrentManagedThreadId, Thread.CurrentThread.Name)}: a ring takes submissions from one thread. Run every pass on one thread (EventLoop.RunAsync, LoopGroup) and reach the loop from others with SocketMap.Post.");
        }

        if (kind == PollerKind.IoUring)
        {
            throw new InvalidOperationException("this map's io_uring ring was closed (a channel or the map was closed from another thread while the loop was stopped); the map cannot run again. Close an io_uring map's channels on its loop's thread, through SocketMap.Post.");
        }
    }

    private static string KindName(PollerKind kind) => kind switch
    {
        PollerKind.IoUring => "io_uring",
        PollerKind.Epoll => "epoll",
        PollerKind.Poll => "poll(2)",
        PollerKind.Select => "select",
        _ => kind.ToString(),
    };

    private static string ThreadName(int id, string? name) => name is null ? $"thread {id}" : $"thread {id} ('{name}')";

    /// <summary>
    /// Whether a loop runs this map on another thread than the caller's: the loop owns the table then,
    /// and an io_uring ring may not be touched from here. Set for the whole of
    /// <see cref="EventLoop.Loop(PollerKind, double, SocketMap?, int?)"/>, <see cref="EventLoop.RunAsync"/>
    /// and a <see cref="LoopGroup"/> loop, and for each single pass.
    /// </summary>
    internal bool RunningElsewhere
    {
        get
        {
            int t = Volatile.Read(ref _runningThread);
            return t != 0 && t != Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>The calling thread runs the loop until <see cref="LeaveRunning"/>.</summary>
    /// <returns>False when it already did (a pass inside a loop): then it must not leave.</returns>
    internal bool EnterRunning()
    {
        int me = Environment.CurrentManagedThreadId;
        int was = Interlocked.CompareExchange(ref _runningThread, me, 0);
        if (was == 0)
        {
            return true;
        }

        if (was == me)
        {
            return false;
        }

        throw new InvalidOperationException($"this map's loop is running on thread {was}; a second loop on thread {me} may not run it at the same time. Reach the running loop with SocketMap.Post.");
    }

    internal void LeaveRunning() => Volatile.Write(ref _runningThread, 0);

    /// <summary>
    /// Members that only the loop's thread may call: with a loop running on another thread, they
    /// would race it. The check is one volatile read.
    /// </summary>
    /// <exception cref="InvalidOperationException">A loop runs this map on another thread.</exception>
    internal void CheckLoopThread(string member)
    {
        if (RunningElsewhere)
        {
            throw new InvalidOperationException($"{member} was called on thread {Environment.CurrentManagedThreadId} while the map's loop runs on thread {Volatile.Read(ref _runningThread)}; call it on the loop's thread, through SocketMap.Post.");
        }
    }

    /// <summary>io_uring only: a channel leaves (or the map closes) from outside a running loop's thread, which the ring cannot allow.</summary>
    internal void CheckRingRemoval(string what)
    {
        if (_poller is IoUringPoller && RunningElsewhere)
        {
            CheckLoopThread(what);
        }
    }

    private int _runningThread;
    private int _boundThread;
    private string? _boundThreadName;

    private void SayFellBack(string why)
    {
        if (_map.Logger is { } logger)
        {
            logger.LogWarning("{Why}", why);
        }
        else
        {
            Console.Error.WriteLine($"warning: {why}");
        }
    }

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
                poller.SetInterest(new PollTarget(reg.Fd, obj.Socket, obj.PollOwner, !reg.AskEveryPass && obj.ReceiveAheadAllowed, obj.LibraryReadSize), flags);
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

            poller.SetInterest(new PollTarget(reg.Fd, obj.Socket, obj.PollOwner), reg.Mask);
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

    /// <summary>Releases the backend's kernel resources (the epoll descriptor) and the wake-up pair.</summary>
    public void Dispose()
    {
        CheckRingRemoval("SocketMap.Dispose");
        _poller?.Dispose();
        _poller = null;
        foreach (Registration reg in _table.Values)
        {
            reg.Mask = PollFlags.None;
            reg.Armed = false;
            MarkChanged(reg);
        }

        Interlocked.Exchange(ref _waker, null)?.Dispose();
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
