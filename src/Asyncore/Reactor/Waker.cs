using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Asyncore.Interop;

namespace Asyncore.Reactor;

/// <summary>
/// Wakes a loop blocked in its poll from another thread: a connected socket pair whose read end
/// every pass watches. A socket pair rather than an eventfd, so select, poll(2) and epoll all take
/// it (Socket.Select only takes sockets). Only the first wake-up before the loop drains it writes.
/// The order is libuv's (<c>uv__async_io</c>): the loop reads the pair empty first and clears the
/// flag after, so a wake-up that lands between the two either finds the flag still set (and the
/// posted work it guards is run right after the clear) or writes a byte that the next wait sees.
/// Clearing first loses wake-ups: a byte written after the clear is read by the drain while the
/// flag stays set, and no later <see cref="Wake"/> writes again.
/// </summary>
internal sealed class Waker : IDisposable
{
    private readonly Socket _read;
    private readonly Socket _write;
    private readonly byte[] _drain = new byte[64];
    private int _signalled;

    internal Waker()
    {
        (_read, _write) = CreatePair();
        _read.Blocking = false;
        _write.Blocking = false;
        Fd = _read.Handle;
    }

    internal nint Fd { get; }

    internal Socket Socket => _read;

    /// <summary>Wake-ups whose byte could not be written (the flag was cleared so the next one tries again).</summary>
    internal int WakeFailures { get; private set; }

    /// <summary>Whether a wake-up is recorded and not yet drained.</summary>
    internal bool Signalled => Volatile.Read(ref _signalled) != 0;

    /// <summary>Tests: the write end, to break it.</summary>
    internal Socket WriteEnd => _write;

    /// <summary>Any thread: make the next (or current) wait return.</summary>
    internal void Wake()
    {
        if (Interlocked.Exchange(ref _signalled, 1) == 0)
        {
            _write.Send([1], SocketFlags.None, out SocketError error);
            if (error is not (SocketError.Success or SocketError.WouldBlock))
            {
                // Nothing was written, so no wait will see it: the next Wake must try again rather
                // than find the flag set forever. (WouldBlock means bytes are already waiting.)
                Volatile.Write(ref _signalled, 0);
                WakeFailures++;
            }
        }
    }

    /// <summary>Loop thread: consume the wake-up bytes.</summary>
    /// <remarks>Run the posted work after this returns: work posted before the clear is then seen.</remarks>
    internal void Drain()
    {
        while (_read.Receive(_drain, SocketFlags.None, out SocketError error) > 0 && error == SocketError.Success)
        {
        }

        // A full fence: the posted queue is read after the flag is clear.
        Interlocked.Exchange(ref _signalled, 0);
    }

    public void Dispose()
    {
        _read.Dispose();
        _write.Dispose();
    }

    private static unsafe (Socket Read, Socket Write) CreatePair()
    {
        if (!OperatingSystem.IsWindows())
        {
            int* sv = stackalloc int[2];
            if (Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, sv) == 0)
            {
                return (new Socket(new SafeSocketHandle(sv[0], ownsHandle: true)), new Socket(new SafeSocketHandle(sv[1], ownsHandle: true)));
            }

            _ = Marshal.GetLastPInvokeError();
        }

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var write = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        write.Connect(listener.LocalEndPoint!);
        return (listener.Accept(), write);
    }
}
