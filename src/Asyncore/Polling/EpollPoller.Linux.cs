using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// epoll(7), level-triggered (no EPOLLET: readiness is re-asked every pass, as asyncore does).
/// Remembers the mask last given to the kernel for each descriptor and issues ADD / MOD / DEL only
/// when it changes (Redis ae_epoll.c aeApiAddEvent), so an unchanged Readable()/Writable() answer
/// costs no system call. The kernel's event buffer is allocated once and grown when the map grows.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class EpollPoller : IPoller
{
    private static readonly bool Packed = RuntimeInformation.ProcessArchitecture == Architecture.X64;

    private readonly int _epfd;
    private readonly Dictionary<nint, Registration> _registered = new();
    private nint _events;
    private int _capacity;

    private struct Registration
    {
        internal PollFlags Mask;
        internal object Owner;
        internal bool AlwaysReady;
    }

    // Descriptors epoll refuses (regular files and directories: EPERM). poll(2) reports them
    // always ready, and so do we, so a FileDispatcher over a file works on every backend.
    private int _alwaysReady;

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
        ref Registration reg = ref CollectionsMarshal.GetValueRefOrNullRef(_registered, target.Fd);
        bool known = !System.Runtime.CompilerServices.Unsafe.IsNullRef(ref reg);
        if (known && reg.AlwaysReady)
        {
            if (interest == PollFlags.None || !ReferenceEquals(reg.Owner, target.Owner))
            {
                _registered.Remove(target.Fd);
                _alwaysReady--;
                known = false;
            }
            else
            {
                reg.Mask = interest;
                return;
            }
        }

        if (interest == PollFlags.None)
        {
            // A registered descriptor with an empty mask still reports EPOLLHUP and EPOLLERR
            // (epoll_ctl(2)); poll2 would not watch it at all, so take it out of the set.
            if (known)
            {
                Control(Libc.EPOLL_CTL_DEL, target.Fd, PollFlags.None);
                _registered.Remove(target.Fd);
            }

            return;
        }

        if (!known)
        {
            bool always = Add(target.Fd, interest);
            _registered[target.Fd] = new Registration { Mask = interest, Owner = target.Owner, AlwaysReady = always };
            if (always)
            {
                _alwaysReady++;
            }

            return;
        }

        if (!ReferenceEquals(reg.Owner, target.Owner))
        {
            // The number was closed and reused by another socket without passing through Remove:
            // the kernel dropped the old registration when the old descriptor closed.
            reg.Owner = target.Owner;
            reg.Mask = interest;
            if (Add(target.Fd, interest))
            {
                reg.AlwaysReady = true;
                _alwaysReady++;
            }

            return;
        }

        if (reg.Mask != interest)
        {
            reg.Mask = interest;
            if (Control(Libc.EPOLL_CTL_MOD, target.Fd, interest) == Libc.ENOENT)
            {
                _ = Add(target.Fd, interest);
            }
        }
    }

    public void Remove(nint fd)
    {
        if (_registered.Remove(fd, out Registration reg))
        {
            if (reg.AlwaysReady)
            {
                _alwaysReady--;
                return;
            }

            // EBADF / ENOENT here mean the descriptor is already closed, which dropped it from the set.
            Control(Libc.EPOLL_CTL_DEL, fd, PollFlags.None);
        }
    }

    public unsafe int Wait(int timeoutMs, Span<PollEvent> ready)
    {
        if (_capacity < _registered.Count)
        {
            Grow(Math.Max(_registered.Count, _capacity * 2));
        }

        int max = Math.Min(_capacity, ready.Length);
        if (max == 0)
        {
            max = 1;
        }

        int n;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        int remaining = _alwaysReady > 0 ? 0 : timeoutMs;
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

        if (_alwaysReady > 0)
        {
            foreach (KeyValuePair<nint, Registration> kv in _registered)
            {
                if (kv.Value.AlwaysReady && written < ready.Length)
                {
                    ready[written++] = new PollEvent(kv.Key, kv.Value.Mask & (PollFlags.In | PollFlags.Out));
                }
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
            _registered.Remove(fd);
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
