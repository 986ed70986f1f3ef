using System.Net.Sockets;

namespace Asyncore.Polling;

/// <summary>What a backend is asked to watch: a descriptor, its Socket where there is one, and the object that owns the descriptor now.</summary>
/// <param name="Fd">The descriptor number (the map key).</param>
/// <param name="Socket">The socket, or null for a plain file descriptor.</param>
/// <param name="Owner">The socket or file wrapper behind the descriptor; a new owner for a known number means the number was reused.</param>
/// <param name="OwnReads">The library reads this channel's socket itself (a plain AsyncChat): io_uring may receive for it.</param>
/// <param name="ReadSize">How many bytes the channel reads at a time (its AcInBufferSize), when <paramref name="OwnReads"/>.</param>
internal readonly record struct PollTarget(nint Fd, Socket? Socket, object Owner, bool OwnReads = false, int ReadSize = 0);

/// <summary>One readiness result.</summary>
/// <param name="Fd">The descriptor number.</param>
/// <param name="Flags">What it is ready for.</param>
internal readonly record struct PollEvent(nint Fd, PollFlags Flags);
