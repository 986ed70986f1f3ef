using Asyncore.Polling;
using Asyncore.Reactor;

namespace Asyncore;

/// <summary>
/// asyncore's module functions: the loop, one pass of it with select or poll semantics, and
/// <see cref="CloseAll"/>. A loop runs on the calling thread until its map is empty, its pass count
/// is used up, or a callback throws <see cref="ExitNowException"/>.
/// </summary>
/// <remarks>Python: asyncore.loop, asyncore.poll, asyncore.poll2, asyncore.close_all</remarks>
public static class EventLoop
{
    private static long s_pass;

    /// <summary>
    /// Runs the loop with CPython's choice of backend: select, or poll(2) when <paramref name="usePoll"/> is true.
    /// </summary>
    /// <param name="timeout">Seconds each pass may wait for readiness (negative: no limit).</param>
    /// <param name="usePoll">poll(2) instead of select (select on Windows either way).</param>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null.</param>
    /// <param name="count">The most passes to run; null runs until the map is empty.</param>
    /// <remarks>Python: asyncore.loop(timeout=30.0, use_poll=False, map=None, count=None). Use the <see cref="PollerKind"/> overload for epoll.</remarks>
    public static void Loop(double timeout = 30.0, bool usePoll = false, SocketMap? map = null, int? count = null) =>
        Loop(usePoll ? PollerKind.Poll : PollerKind.Select, timeout, map, count);

    /// <summary>
    /// Runs the loop on a chosen backend. <see cref="PollerKind.Default"/> is the fastest the platform
    /// has: epoll on Linux.
    /// </summary>
    /// <param name="backend">The backend.</param>
    /// <param name="timeout">Seconds each pass may wait for readiness (negative: no limit).</param>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null.</param>
    /// <param name="count">The most passes to run; null runs until the map is empty.</param>
    /// <remarks>Python: asyncore.loop, with the backend named instead of use_poll.</remarks>
    public static void Loop(PollerKind backend, double timeout = 30.0, SocketMap? map = null, int? count = null)
    {
        map ??= SocketMap.Default;
        PollerKind kind = PollerFactory.Resolve(backend);
        if (count is null)
        {
            while (map.Count > 0)
            {
                PollOnce(map, kind, timeout);
            }
        }
        else
        {
            for (int left = count.Value; map.Count > 0 && left > 0; left--)
            {
                PollOnce(map, kind, timeout);
            }
        }
    }

    /// <summary>One pass with select semantics: every readable channel reads, then every writable one writes, then exceptional conditions.</summary>
    /// <param name="timeout">Seconds to wait for readiness (negative: no limit).</param>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null.</param>
    /// <remarks>Python: asyncore.poll(timeout=0.0, map=None)</remarks>
    public static void Poll(double timeout = 0.0, SocketMap? map = null) =>
        PollOnce(map ?? SocketMap.Default, PollerKind.Select, timeout);

    /// <summary>One pass with poll(2) semantics: per ready channel, read, write, priority data, then hang-up.</summary>
    /// <param name="timeout">Seconds to wait for readiness, truncated to whole milliseconds (negative: no limit).</param>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null.</param>
    /// <remarks>Python: asyncore.poll2(timeout=0.0, map=None) (and its alias poll3)</remarks>
    public static void Poll2(double timeout = 0.0, SocketMap? map = null) =>
        PollOnce(map ?? SocketMap.Default, PollerFactory.Resolve(PollerKind.Poll), timeout);

    /// <summary>One pass on a chosen backend.</summary>
    /// <param name="backend">The backend.</param>
    /// <param name="timeout">Seconds to wait for readiness (negative: no limit).</param>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null.</param>
    /// <remarks>Python: asyncore.poll / poll2, with the backend named.</remarks>
    public static void Poll(PollerKind backend, double timeout = 0.0, SocketMap? map = null) =>
        PollOnce(map ?? SocketMap.Default, PollerFactory.Resolve(backend), timeout);

    /// <summary>Closes every channel in the map, then empties it.</summary>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null.</param>
    /// <param name="ignoreAll">When true, errors from closing are ignored; otherwise the first is thrown (a closed-descriptor error always is ignored).</param>
    /// <remarks>Python: asyncore.close_all(map=None, ignore_all=False)</remarks>
    public static void CloseAll(SocketMap? map = null, bool ignoreAll = false)
    {
        map ??= SocketMap.Default;
        foreach (Dispatcher channel in map.Values)
        {
            try
            {
                channel.Close();
            }
            catch (ExitNowException)
            {
                throw;
            }
            catch (Exception e) when (ignoreAll || e is ObjectDisposedException
                                      || (e is System.Net.Sockets.SocketException se && se.SocketErrorCode == System.Net.Sockets.SocketError.OperationAborted))
            {
            }
        }

        map.Clear();
    }

    /// <summary>
    /// Runs the map's loop on a thread of its own until <paramref name="cancellationToken"/> is
    /// cancelled or a callback throws <see cref="ExitNowException"/>; unlike <see cref="Loop(PollerKind, double, SocketMap?, int?)"/>
    /// it keeps running while the map is empty, so channels can be created later with
    /// <see cref="SocketMap.Post"/>.
    /// </summary>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null. From now on, touch its channels only through <see cref="SocketMap.Post"/>.</param>
    /// <param name="backend">The backend.</param>
    /// <param name="cancellationToken">Stops the loop (it wakes at once).</param>
    /// <returns>A task that completes when the loop has stopped, and faults if the loop itself failed.</returns>
    public static Task RunAsync(SocketMap? map = null, PollerKind backend = PollerKind.Default, CancellationToken cancellationToken = default)
    {
        map ??= SocketMap.Default;
        PollerKind kind = PollerFactory.Resolve(backend);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            bool stop = false;
            using CancellationTokenRegistration registration = cancellationToken.Register(() => map.Post(() => stop = true));
            try
            {
                while (!stop)
                {
                    PollOnce(map, kind, 30.0, evenIfEmpty: true);
                }

                done.SetResult();
            }
            catch (ExitNowException)
            {
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "Asyncore loop",
        };
        thread.Start();
        return done.Task;
    }

    /// <summary>One pass: run posted work, ask every channel's predicates, set interest, wait, dispatch.</summary>
    internal static void PollOnce(SocketMap map, PollerKind kind, double timeout, bool evenIfEmpty = false)
    {
        if (map.Count == 0 && !evenIfEmpty)
        {
            return;
        }

        FileLimit.RaiseOnce();
        Waker waker = map.EnsureWaker();
        map.RunPosted();
        if (map.Count == 0 && !evenIfEmpty)
        {
            return;
        }

        bool selectFlavour = kind == PollerKind.Select;
        bool lazy = kind == PollerKind.Epoll;
        IPoller poller = map.Poller(kind);
        long pass = Interlocked.Increment(ref s_pass);
        int interested = 0;
        if (lazy)
        {
            // epoll keeps its kernel set between passes: ask the channels whose predicates are
            // their own every pass, and the library-predicate channels only when marked dirty.
            ReadOnlySpan<Dispatcher> always = map.AskEveryPass();
            try
            {
                foreach (Dispatcher obj in always)
                {
                    interested += Evaluate(obj, poller, selectFlavour: false, pass) ? 1 : 0;
                }
            }
            finally
            {
                map.ClearAskSnapshot(always.Length);
            }

            List<Dispatcher> dirty = map.TakeDirty();
            foreach (Dispatcher obj in dirty)
            {
                obj.ClearInterestDirty();
                if (ReferenceEquals(obj.RegisteredMap, map))
                {
                    interested += Evaluate(obj, poller, selectFlavour: false, pass) ? 1 : 0;
                }
            }

            dirty.Clear();
        }
        else
        {
            ReadOnlySpan<Dispatcher> channels = map.Snapshot();
            try
            {
                foreach (Dispatcher obj in channels)
                {
                    interested += Evaluate(obj, poller, selectFlavour, pass) ? 1 : 0;
                }
            }
            finally
            {
                map.ClearSnapshot(channels.Length);
            }
        }

        poller.SetInterest(new PollTarget(waker.Fd, waker.Socket, waker), PollFlags.In);

        // asyncore.poll sleeps when nobody is interested (select() rejects three empty lists);
        // here that sleep is a wait on the wake-up socket, so a Post from another thread ends it.
        int timeoutMs = map.TimeoutUntilNextTimer(timeout < 0 ? -1 : (int)Math.Min(int.MaxValue, timeout * 1000));
        Span<PollEvent> events = map.EventBuffer(map.Count + 1);
        int n = poller.Wait(timeoutMs, events);
        events = events[..n];
        map.InPass = true;
        try
        {
            Dispatch(map, events, waker, selectFlavour, lazy, pass);
            map.RunTimers();
        }
        finally
        {
            map.InPass = false;
            map.FlushPending();
        }
    }

    private static void Dispatch(SocketMap map, Span<PollEvent> events, Waker waker, bool selectFlavour, bool lazy, long pass)
    {
        foreach (PollEvent ev in events)
        {
            if (ev.Fd == waker.Fd)
            {
                waker.Drain();
                map.RunPosted();
                break;
            }
        }

        if (selectFlavour)
        {
            DispatchSelect(map, events, pass, PollFlags.In);
            DispatchSelect(map, events, pass, PollFlags.Out);
            DispatchSelect(map, events, pass, PollFlags.Pri);
        }
        else
        {
            foreach (PollEvent ev in events)
            {
                if ((lazy ? LookupRegistered(map, ev.Fd) : Lookup(map, ev.Fd, pass)) is { } obj)
                {
                    EventDispatch.ReadWrite(obj, ev.Flags);
                }
            }
        }
    }

    /// <summary>Asks one channel's predicates and hands the answer to the backend.</summary>
    /// <returns>Whether the channel is watched for anything.</returns>
    private static bool Evaluate(Dispatcher obj, IPoller poller, bool selectFlavour, long pass)
    {
        if (obj.Fileno < 0)
        {
            return false; // closed by an earlier channel's callback in this pass
        }

        bool r = EventDispatch.Ask(obj, writable: false);
        bool rawW = EventDispatch.Ask(obj, writable: true);
        if (obj.Fileno < 0)
        {
            return false;
        }

        bool w = rawW && !obj.Accepting;
        PollFlags flags = selectFlavour
            // asyncore.poll: r, w (never for a listener), and e for anyone readable or writable.
            ? (r ? PollFlags.In : 0) | (w ? PollFlags.Out : 0) | (r || rawW ? PollFlags.Pri : 0)
            // asyncore.poll2: POLLIN|POLLPRI when readable, POLLOUT when writable and not listening.
            : (r ? PollFlags.In | PollFlags.Pri : 0) | (w ? PollFlags.Out : 0);
        obj.PolledPass = flags == PollFlags.None ? 0 : pass;
        try
        {
            poller.SetInterest(new PollTarget(obj.Fileno, obj.Socket, obj.PollOwner), flags);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            // The backend refused this descriptor: that channel's fault, not the loop's.
            obj.PolledPass = 0;
            EventDispatch.Fail(obj, e);
            return false;
        }

        return flags != PollFlags.None;
    }

    private static void DispatchSelect(SocketMap map, ReadOnlySpan<PollEvent> events, long pass, PollFlags which)
    {
        foreach (PollEvent ev in events)
        {
            if ((ev.Flags & which) == 0 || Lookup(map, ev.Fd, pass) is not { } obj)
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
    /// The channel now under <paramref name="fd"/>, if it is the one polled in this pass. A channel
    /// closed earlier in the pass is gone from the map; one that reused its descriptor within the
    /// pass was not polled, so a stale event never reaches it.
    /// </summary>
    private static Dispatcher? Lookup(SocketMap map, nint fd, long pass) =>
        map.TryGetValue(fd, out Dispatcher? obj) && obj.PolledPass == pass ? obj : null;

    /// <summary>
    /// The epoll form of <see cref="Lookup"/>: the channel under <paramref name="fd"/> if its
    /// registration stands (PolledPass &gt; 0: watched, not closed). A channel made during this
    /// pass's callbacks, even one that reused a closed channel's number, is not registered yet.
    /// </summary>
    private static Dispatcher? LookupRegistered(SocketMap map, nint fd) =>
        map.TryGetValue(fd, out Dispatcher? obj) && obj.PolledPass > 0 ? obj : null;
}
