using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// poll(2): one growable pollfd array rebuilt every pass, as asyncore.poll2 builds a new pollster
/// each call (libuv src/unix/posix-poll.c keeps the same kind of array).
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class PollPoller : IPoller
{
    private Libc.PollFd[] _fds = new Libc.PollFd[64];
    private int _count;

    public bool KeepsInterest => false;

    public string Name => "poll";

    public void SetInterest(in PollTarget target, PollFlags interest)
    {
        if (interest == PollFlags.None)
        {
            return; // asyncore.poll2 does not register a channel with no flags
        }

        if (_count == _fds.Length)
        {
            Array.Resize(ref _fds, _fds.Length * 2);
        }

        _fds[_count++] = new Libc.PollFd { Fd = (int)target.Fd, Events = (short)interest };
    }

    public void Remove(nint fd)
    {
        // Nothing is kept between passes.
    }

    public unsafe int Wait(int timeoutMs, Span<PollEvent> ready)
    {
        int count = _count;
        _count = 0;
        int n = PollArray(_fds, count, timeoutMs);
        int written = 0;
        for (int i = 0; i < count && written < n && written < ready.Length; i++)
        {
            ref Libc.PollFd fd = ref _fds[i];
            if (fd.REvents != 0)
            {
                ready[written++] = new PollEvent(fd.Fd, (PollFlags)fd.REvents);
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
