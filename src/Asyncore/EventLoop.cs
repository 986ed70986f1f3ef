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
    /// <summary>
    /// Runs the loop with CPython's choice of backend: select, or poll(2) when <paramref name="usePoll"/> is true.
    /// </summary>
    /// <param name="timeout">Seconds each pass may wait for readiness (negative: no limit).</param>
    /// <param name="usePoll">poll(2) instead of select (select on Windows either way).</param>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null.</param>
    /// <param name="count">The most passes to run; null runs until the map is empty and no timer (<see cref="SocketMap.CallLater"/>) is pending.</param>
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
    /// <param name="count">The most passes to run; null runs until the map is empty and no timer (<see cref="SocketMap.CallLater"/>) is pending.</param>
    /// <remarks>Python: asyncore.loop, with the backend named instead of use_poll.</remarks>
    public static void Loop(PollerKind backend, double timeout = 30.0, SocketMap? map = null, int? count = null)
    {
        map ??= SocketMap.Default;
        PollerKind kind = PollerFactory.Resolve(backend);
        bool entered = map.Reactor.EnterRunning();
        try
        {
            RunLoop(map, kind, timeout, count);
        }
        finally
        {
            if (entered)
            {
                map.Reactor.LeaveRunning();
            }
        }
    }

    private static void RunLoop(SocketMap map, PollerKind kind, double timeout, int? count)
    {
        if (count is null)
        {
            // As libuv keeps a loop alive while a timer is active: an empty map with a CallLater
            // pending (a reconnect, say) waits for it. CPython's loop has no timers.
            while (map.Count > 0 || map.Reactor.Timers.Count > 0)
            {
                PollOnce(map, kind, timeout, evenIfEmpty: map.Count == 0);
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

    /// <summary>
    /// Drains the map gracefully on this thread (see <see cref="SocketMap.BeginDrain"/>): listeners
    /// take no new connections, accept their backlog and close, channels finish their exchanges and close when idle, and the loop runs until
    /// the map is empty, which the deadline guarantees.
    /// </summary>
    /// <param name="deadline">How long channels may take to finish.</param>
    /// <param name="map">The map; <see cref="SocketMap.Default"/> when null.</param>
    /// <param name="backend">The backend; with <see cref="PollerKind.Default"/>, the one the map already runs on.</param>
    /// <returns>True when every channel closed by itself before the deadline.</returns>
    public static bool Drain(TimeSpan deadline, SocketMap? map = null, PollerKind backend = PollerKind.Default)
    {
        map ??= SocketMap.Default;
        PollerKind kind = backend == PollerKind.Default && map.Reactor.BoundKind is { } bound ? bound : PollerFactory.Resolve(backend);
        Task<bool> done = map.BeginDrain(deadline);
        while (!done.IsCompleted)
        {
            PollOnce(map, kind, 30.0, evenIfEmpty: true);
        }

        return done.Result;
    }

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
            Exception? failure = null;
            using (cancellationToken.Register(() => map.Post(() => stop = true)))
            {
                bool entered = false;
                try
                {
                    entered = map.Reactor.EnterRunning();
                    while (!stop)
                    {
                        PollOnce(map, kind, 30.0, evenIfEmpty: true);
                    }
                }
                catch (ExitNowException)
                {
                }
                catch (Exception e)
                {
                    failure = e;
                }
                finally
                {
                    if (entered)
                    {
                        map.Reactor.LeaveRunning();
                    }
                }
            }

            // Only once the loop has left the map: whoever awaits the task may then dispose the map
            // (or run it) on its own thread at once, as LoopGroup's stop does it.
            if (failure is null)
            {
                done.SetResult();
            }
            else
            {
                done.SetException(failure);
            }
        })
        {
            IsBackground = true,
            Name = "Asyncore loop",
        };
        thread.Start();
        return done.Task;
    }

    /// <summary>One pass of the map's loop (see <see cref="ReactorCore.RunPass"/>).</summary>
    internal static void PollOnce(SocketMap map, PollerKind kind, double timeout, bool evenIfEmpty = false) =>
        map.Reactor.RunPass(kind, timeout, evenIfEmpty);
}
