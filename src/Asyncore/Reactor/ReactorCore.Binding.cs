using System.Collections.Concurrent;
using Asyncore.Polling;
using Microsoft.Extensions.Logging;

namespace Asyncore.Reactor;

/// <content>The backend a map is bound to, and the thread its loop runs on.</content>
internal sealed partial class ReactorCore
{
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
        _poller.Attach(RowOf);
        _pollerKind = kind;
        _wakerRow?.ResetKernelState();
        _boundThread = kind == PollerKind.IoUring ? Environment.CurrentManagedThreadId : 0;
        _boundThreadName = kind == PollerKind.IoUring ? Thread.CurrentThread.Name : null;
        foreach (Registration reg in _table.Values)
        {
            reg.Mask = PollFlags.None; // masks differ between the select and poll flavours
            reg.Armed = false;
            reg.ResetKernelState();
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
        if (Volatile.Read(ref _runningThread) == me)
        {
            return false; // a pass inside this thread's loop: one read, no interlocked operation per pass
        }

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
        if (_poller is { ThreadBound: true } && RunningElsewhere)
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
}
