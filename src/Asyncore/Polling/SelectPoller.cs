using System.Net.Sockets;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// select: <see cref="Socket.Select(System.Collections.IList?, System.Collections.IList?, System.Collections.IList?, int)"/>
/// over three reused lists, which it trims to the ready sockets. Results come out grouped (all
/// readable, then all writable, then all exceptional) as select(2) returns them. A channel with no
/// Socket (a <see cref="FileDispatcher"/>) cannot go through Socket.Select; a pass that has one, or
/// more than FD_SETSIZE (1024) entries, is served by poll(2) instead, translated to select's three sets.
/// </summary>
internal sealed class SelectPoller : IPoller
{
    private readonly List<Socket> _read = new();
    private readonly List<Socket> _write = new();
    private readonly List<Socket> _error = new();
    private Libc.PollFd[] _all = new Libc.PollFd[64];
    private int _allCount;
    private bool _needsPoll;

    /// <summary>select(2)'s classic limit (FD_SETSIZE).</summary>
    internal const int FdSetSize = 1024;

    public bool UsableHere => true;

    /// <summary>recv(2) and send(2) on the socket: this backend keeps nothing in flight.</summary>
    public Transport.ChannelTransport TransportFor(Dispatcher channel) => Transport.SocketTransport.Instance;

    public bool KeepsInterest => false;

    public string Name => "select";

    public void SetInterest(in PollTarget target, PollFlags interest)
    {
        if (interest == PollFlags.None)
        {
            return;
        }

        if (target.Socket is { } s)
        {
            if ((interest & PollFlags.In) != 0) _read.Add(s);
            if ((interest & PollFlags.Out) != 0) _write.Add(s);
            if ((interest & PollFlags.Pri) != 0) _error.Add(s);
        }
        else
        {
            _needsPoll = true;
        }

        if (_allCount == _all.Length)
        {
            Array.Resize(ref _all, _all.Length * 2);
        }

        _all[_allCount++] = new Libc.PollFd { Fd = (int)target.Fd, Events = (short)interest };
    }

    public void Remove(Reactor.Registration row)
    {
    }

    public int Wait(int timeoutMs, Span<PollEvent> ready)
    {
        try
        {
            // Socket.Select is poll(2) underneath on Unix, with one entry per list membership; past
            // RLIMIT_NOFILE entries it fails with EINVAL (seen at 10,000 sockets), and select(2)
            // itself stops at FD_SETSIZE. Above that size the same three sets come from one poll(2).
            bool large = _read.Count + _write.Count + _error.Count > FdSetSize;
            if ((_needsPoll || large) && !OperatingSystem.IsWindows())
            {
                return WaitWithPoll(timeoutMs, ready);
            }

            int micro = timeoutMs < 0 ? -1 : (int)Math.Min(int.MaxValue, timeoutMs * 1000L);
            Socket.Select(
                _read.Count > 0 ? _read : null,
                _write.Count > 0 ? _write : null,
                _error.Count > 0 ? _error : null,
                micro);
            int written = 0;
            written = Emit(_read, PollFlags.In, ready, written);
            written = Emit(_write, PollFlags.Out, ready, written);
            written = Emit(_error, PollFlags.Pri, ready, written);
            return written;
        }
        finally
        {
            _read.Clear();
            _write.Clear();
            _error.Clear();
            _allCount = 0;
            _needsPoll = false;
        }
    }

    private static int Emit(List<Socket> sockets, PollFlags flag, Span<PollEvent> ready, int written)
    {
        foreach (Socket s in sockets)
        {
            if (written < ready.Length)
            {
                ready[written++] = new PollEvent(s.Handle, flag);
            }
        }

        return written;
    }

    /// <summary>
    /// poll(2) read as select(2) would report: readable on POLLIN, POLLHUP or POLLERR (a read then
    /// sees the EOF or the error), writable on POLLOUT or POLLERR, exceptional on POLLPRI.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private int WaitWithPoll(int timeoutMs, Span<PollEvent> ready)
    {
        int n = PollPoller.PollArray(_all, _allCount, timeoutMs);
        int written = 0;
        if (n <= 0)
        {
            return 0;
        }

        ReadOnlySpan<PollFlags> order = [PollFlags.In, PollFlags.Out, PollFlags.Pri];
        foreach (PollFlags wanted in order)
        {
            for (int i = 0; i < _allCount && written < ready.Length; i++)
            {
                var got = (PollFlags)_all[i].REvents;
                var asked = (PollFlags)_all[i].Events;
                bool hit = wanted switch
                {
                    PollFlags.In => (got & (PollFlags.In | PollFlags.Hup | PollFlags.Err)) != 0,
                    PollFlags.Out => (got & (PollFlags.Out | PollFlags.Err)) != 0,
                    _ => (got & PollFlags.Pri) != 0,
                };
                if (hit && (asked & wanted) != 0)
                {
                    ready[written++] = new PollEvent(_all[i].Fd, wanted);
                }
            }
        }

        return written;
    }

    public void Dispose()
    {
    }
}
