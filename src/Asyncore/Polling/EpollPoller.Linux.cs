using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// epoll(7), level-triggered (no EPOLLET: readiness is re-asked every pass, as asyncore does).
/// The mask last given to the kernel is kept in the descriptor's row of the loop's table, and ADD /
/// MOD / DEL are issued only when it changes (Redis ae_epoll.c reads the loop's aeFileEvent mask the
/// same way), so an unchanged Readable()/Writable() answer costs no system call. The kernel's event buffer is allocated once and grown when the map grows.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class EpollPoller : IPoller
{
    private static readonly bool Packed = RuntimeInformation.ProcessArchitecture == Architecture.X64;

    private readonly int _epfd;
    private nint _events;
    private int _capacity;
    private int _known;

    // Descriptors epoll refuses (regular files and directories: EPERM). poll(2) reports them
    // always ready, and so do we, so a FileDispatcher over a file works on every backend.
    private readonly List<Reactor.Registration> _alwaysReady = new();

    public EpollPoller()
    {
        _epfd = Libc.EpollCreate1(Libc.EPOLL_CLOEXEC);
        if (_epfd < 0)
        {
            throw Errors.IOError(Marshal.GetLastPInvokeError());
        }

        Grow(64);
    }

    /// <summary>Size of struct epoll_event on this architecture (12 on x86-64, 16 elsewhere).</summary>
    internal static unsafe int EventSize => Packed ? sizeof(Libc.EpollEventPacked) : sizeof(Libc.EpollEventAligned);

    public bool UsableHere => true;

    /// <summary>recv(2) and send(2) on the socket: this backend keeps nothing in flight.</summary>
    public Transport.ChannelTransport TransportFor(Dispatcher channel) => Transport.SocketTransport.Instance;

    public bool KeepsInterest => true;

    public string Name => "epoll";

    public void SetInterest(in PollTarget target, PollFlags interest)
    {
        Reactor.Registration row = target.Row;
        if (row.KernelKnows && row.AlwaysReady)
        {
            if (interest == PollFlags.None || !ReferenceEquals(row.KernelOwner, target.Owner))
            {
                Forget(row);
            }
            else
            {
                row.KernelMask = interest;
                return;
            }
        }

        if (interest == PollFlags.None)
        {
            // A registered descriptor with an empty mask still reports EPOLLHUP and EPOLLERR
            // (epoll_ctl(2)); poll2 would not watch it at all, so take it out of the set.
            if (row.KernelKnows)
            {
                Control(Libc.EPOLL_CTL_DEL, row.Fd, PollFlags.None);
                Forget(row);
            }

            return;
        }

        if (!row.KernelKnows)
        {
            bool always = Add(row.Fd, interest);
            row.KernelKnows = true;
            _known++;
            Told(row, interest, target.Owner, always);
            return;
        }

        if (!ReferenceEquals(row.KernelOwner, target.Owner))
        {
            // The number was closed and reused by another socket without passing through Remove:
            // the kernel dropped the old registration when the old descriptor closed.
            Told(row, interest, target.Owner, Add(row.Fd, interest));
            return;
        }

        if (row.KernelMask != interest)
        {
            row.KernelMask = interest;
            if (Control(Libc.EPOLL_CTL_MOD, row.Fd, interest) == Libc.ENOENT)
            {
                _ = Add(row.Fd, interest);
            }
        }
    }

    private void Told(Reactor.Registration row, PollFlags interest, object owner, bool alwaysReady)
    {
        row.KernelMask = interest;
        row.KernelOwner = owner;
        if (alwaysReady && !row.AlwaysReady)
        {
            row.AlwaysReady = true;
            _alwaysReady.Add(row);
        }
    }

    /// <summary>The row leaves this backend's knowledge (the kernel's set was told already, or never had it).</summary>
    private void Forget(Reactor.Registration row)
    {
        if (row.AlwaysReady)
        {
            _alwaysReady.Remove(row);
        }

        if (row.KernelKnows)
        {
            _known--;
        }

        row.KernelKnows = false;
        row.AlwaysReady = false;
        row.KernelMask = PollFlags.None;
        row.KernelOwner = null;
    }

    public void Remove(Reactor.Registration row)
    {
        if (!row.KernelKnows)
        {
            return;
        }

        if (!row.AlwaysReady)
        {
            // EBADF / ENOENT here mean the descriptor is already closed, which dropped it from the set.
            Control(Libc.EPOLL_CTL_DEL, row.Fd, PollFlags.None);
        }

        Forget(row);
    }

    public unsafe int Wait(int timeoutMs, Span<PollEvent> ready)
    {
        if (_capacity < _known)
        {
            Grow(Math.Max(_known, _capacity * 2));
        }

        int max = Math.Min(_capacity, ready.Length);
        if (max == 0)
        {
            max = 1;
        }

        int n;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        int remaining = _alwaysReady.Count > 0 ? 0 : timeoutMs;
        while (true)
        {
            n = Libc.EpollWait(_epfd, (void*)_events, max, remaining);
            if (n >= 0)
            {
                break;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.EINTR)
            {
                throw Errors.IOError(errno);
            }

            if (timeoutMs >= 0)
            {
                remaining = Math.Max(0, timeoutMs - (int)System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }

        int written = 0;
        for (int i = 0; i < n && written < ready.Length; i++)
        {
            uint events;
            ulong data;
            if (Packed)
            {
                Libc.EpollEventPacked e = ((Libc.EpollEventPacked*)_events)[i];
                events = e.Events;
                data = e.Data;
            }
            else
            {
                Libc.EpollEventAligned e = ((Libc.EpollEventAligned*)_events)[i];
                events = e.Events;
                data = e.Data;
            }

            ready[written++] = new PollEvent((nint)(long)data, (PollFlags)(events & 0x3F));
        }

        foreach (Reactor.Registration row in _alwaysReady)
        {
            if (written < ready.Length)
            {
                ready[written++] = new PollEvent(row.Fd, row.KernelMask & (PollFlags.In | PollFlags.Out));
            }
        }

        return written;
    }

    /// <returns>True when epoll refused the descriptor as one that is always ready (EPERM).</returns>
    private bool Add(nint fd, PollFlags interest)
    {
        int err = Control(Libc.EPOLL_CTL_ADD, fd, interest);
        if (err == Libc.EEXIST)
        {
            err = Control(Libc.EPOLL_CTL_MOD, fd, interest);
        }

        if (err == Libc.EPERM)
        {
            return true;
        }

        if (err != 0)
        {
            throw Errors.IOError(err);
        }

        return false;
    }

    /// <returns>0, or the errno of a failed call.</returns>
    private unsafe int Control(int op, nint fd, PollFlags interest)
    {
        int rc;
        // Kernels before 2.6.9 want a non-null event even for EPOLL_CTL_DEL (epoll_ctl(2) BUGS).
        if (Packed)
        {
            var ev = new Libc.EpollEventPacked { Events = (uint)(ushort)interest, Data = (ulong)(long)fd };
            rc = Libc.EpollCtl(_epfd, op, (int)fd, &ev);
        }
        else
        {
            var ev = new Libc.EpollEventAligned { Events = (uint)(ushort)interest, Data = (ulong)(long)fd };
            rc = Libc.EpollCtl(_epfd, op, (int)fd, &ev);
        }

        return rc == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>Shrinks the event buffer to what the set needs now (it grows again on the next wait that needs more).</summary>
    public void Trim()
    {
        int want = Math.Max(64, _known);
        if (_capacity > 2 * want)
        {
            Grow(want);
        }
    }

    private unsafe void Grow(int capacity)
    {
        if (_events != 0)
        {
            NativeMemory.Free((void*)_events);
        }

        unsafe
        {
            _events = (nint)NativeMemory.Alloc((nuint)capacity, (nuint)EventSize);
        }

        _capacity = capacity;
    }

    public unsafe void Dispose()
    {
        if (_events != 0)
        {
            NativeMemory.Free((void*)_events);
            _events = 0;
            Libc.Close(_epfd);
        }
    }
}
