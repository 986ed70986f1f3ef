using System.Net.Sockets;

namespace Asyncore.Polling;

/// <summary>What a backend is asked to watch: the descriptor's row in the loop's table, its Socket where there is one, and the object that owns the descriptor now.</summary>
/// <param name="Row">The descriptor's row: the backend keeps what it told the kernel there.</param>
/// <param name="Socket">The socket, or null for a plain file descriptor.</param>
/// <param name="Owner">The socket or file wrapper behind the descriptor; a new owner for a known number means the number was reused.</param>
/// <param name="OwnReads">The library reads this channel's socket itself (a plain AsyncChat): io_uring may receive for it.</param>
/// <param name="ReadSize">How many bytes the channel reads at a time (its AcInBufferSize), when <paramref name="OwnReads"/>.</param>
internal readonly record struct PollTarget(Reactor.Registration Row, Socket? Socket, object Owner, bool OwnReads = false, int ReadSize = 0)
{
    /// <summary>The descriptor number (the map key).</summary>
    public nint Fd => Row.Fd;
}

/// <summary>One readiness result.</summary>
/// <param name="Fd">The descriptor number.</param>
/// <param name="Flags">What it is ready for.</param>
internal readonly record struct PollEvent(nint Fd, PollFlags Flags);
