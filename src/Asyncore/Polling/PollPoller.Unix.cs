using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// poll(2) over a pollfd array kept between passes and edited only where a mask changed, as libuv's
/// src/unix/posix-poll.c keeps <c>poll_fds</c>: each descriptor has a slot (its number kept in the
/// descriptor's row of the loop's table), a removal moves the last slot into the hole. A pass costs the kernel's walk of the array, not a rebuild of it.
/// </summary>
/// <remarks>
/// A descriptor closed behind its channel's back is reported by the kernel as POLLNVAL while its number
/// stays free; the reactor checks the channel's socket before it dispatches, so an event for a number
/// that was reused by a socket outside the map never reaches the old channel as readiness.
/// </remarks>
[UnsupportedOSPlatform("windows")]
internal sealed class PollPoller : IPoller
{
    private Libc.PollFd[] _fds = new Libc.PollFd[64];
    private Reactor.Registration?[] _rows = new Reactor.Registration?[64]; // the row behind each slot, to move a slot
    private int _count;

    public bool UsableHere => true;

    /// <summary>recv(2) and send(2) on the socket: this backend keeps nothing in flight.</summary>
    public Transport.ChannelTransport TransportFor(Dispatcher channel) => Transport.SocketTransport.Instance;

    public bool KeepsInterest => true;

    public string Name => "poll";

    public void SetInterest(in PollTarget target, PollFlags interest)
    {
        Reactor.Registration row = target.Row;
        if (interest == PollFlags.None)
        {
            Remove(row); // asyncore.poll2 does not register a channel with no flags
            return;
        }

        if (row.Slot < 0)
        {
            if (_count == _fds.Length)
            {
                Array.Resize(ref _fds, _fds.Length * 2);
                Array.Resize(ref _rows, _fds.Length);
            }

            row.Slot = _count++;
            _fds[row.Slot].Fd = (int)row.Fd;
            _rows[row.Slot] = row;
        }

        _fds[row.Slot].Events = (short)interest;
    }

    public void Remove(Reactor.Registration row)
    {
        int slot = row.Slot;
        if (slot < 0)
        {
            return;
        }

        row.Slot = -1;
        int last = --_count;
        if (slot != last)
        {
            _fds[slot] = _fds[last];
            Reactor.Registration moved = _rows[last]!;
            _rows[slot] = moved;
            moved.Slot = slot;
        }

        _fds[last] = default;
        _rows[last] = null;
        if (_count < _fds.Length / 4 && _fds.Length > 64)
        {
            int size = Math.Max(64, _fds.Length / 2); // a burst that came and went gives its memory back
            Array.Resize(ref _fds, size);
            Array.Resize(ref _rows, size);
        }
    }

    public unsafe int Wait(int timeoutMs, Span<PollEvent> ready)
    {
        int count = _count;
        int n = PollArray(_fds, count, timeoutMs);
        int written = 0;
        for (int i = 0; i < count && written < n && written < ready.Length; i++)
        {
            ref Libc.PollFd fd = ref _fds[i];
            if (fd.REvents != 0)
            {
                ready[written++] = new PollEvent(fd.Fd, (PollFlags)fd.REvents);
                fd.REvents = 0;
            }
        }

        return written;
    }

    /// <summary>poll(2) over the first <paramref name="count"/> entries, retrying on EINTR with the time left.</summary>
    internal static unsafe int PollArray(Libc.PollFd[] fds, int count, int timeoutMs)
    {
        long start = Stopwatch.GetTimestamp();
        int remaining = timeoutMs;
        while (true)
        {
            int n;
            fixed (Libc.PollFd* p = fds)
            {
                n = Libc.Poll(p, (nuint)count, remaining);
            }

            if (n >= 0)
            {
                return n;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno != Libc.EINTR)
            {
                throw Errors.IOError(errno);
            }

            if (timeoutMs >= 0)
            {
                remaining = Math.Max(0, timeoutMs - (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }
    }

    public void Dispose()
    {
    }
}
