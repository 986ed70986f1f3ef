using System.Net.Sockets;
using Asyncore.Polling;
using Asyncore.Reactor;

namespace Asyncore;

/// <content>Sends through the io_uring backend's ring, for the channels whose output the library owns.</content>
public partial class Dispatcher
{
    private IoUringSender? _uringSend;

    /// <summary>Whether a send of this channel is in the ring still, so closing or shutting down must wait for it.</summary>
    internal bool HasUringSender => _uringSend is not null;

    /// <summary>
    /// Whether bytes this channel's send accepted are still on their way through the ring. The caller
    /// waits for them (a close marker, a half-closed channel's end, a drain's idle test): the channel
    /// then hears a write event when they complete.
    /// </summary>
    private protected bool TransportSendPending()
    {
        if (_uringSend is { InFlight: true, Detached: false } s)
        {
            s.Notify = true;
            return true;
        }

        return false;
    }

    /// <summary>
    /// Sends through the ring when the loop's backend is io_uring and the channel is a plain
    /// <see cref="AsyncChat"/> with the library's own predicates (so the library knows when its output is done).
    /// </summary>
    /// <returns>False when the plain send(2) path applies.</returns>
    private bool TryUringSend(ReadOnlySpan<byte> data, out int result)
    {
        result = 0;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        IoUringSender? s = _uringSend;
        if (s is not null && s.Detached)
        {
            _uringSend = s = null;
        }

        if (Registration?.Reactor.Poller is not IoUringPoller poller || !poller.UsableHere)
        {
            if (s is { InFlight: true })
            {
                s.Notify = true;
                result = WouldBlock; // bytes in the ring go first; the loop's next pass takes them again
                return true;
            }

            return false;
        }

        if (s is null)
        {
            if (_tls is not null || this is not AsyncChat || Socket is null || !PredicateKind.IsLibraryOwned(this))
            {
                return false;
            }

            _uringSend = s = poller.SenderFor(Registration.Fd, PollOwner);
        }

        if (s.Error != 0)
        {
            result = SocketErrorResult(SocketErrorOf(s.Error));
            return true;
        }

        if (_tls is not null)
        {
            if (s.InFlight)
            {
                s.Notify = true; // ciphertext after the clear bytes still in the ring
                result = WouldBlock;
                return true;
            }

            return false;
        }

        result = poller.Send(s, data);
        if (result > 0)
        {
            AsyncoreMetrics.Sent.Add(result);
            Touch();
        }

        return true;
    }

    /// <summary>A send's errno (Linux numbering) as .NET names it, for the error rules send(2) results follow.</summary>
    private static SocketError SocketErrorOf(int errno) => errno switch
    {
        32 => SocketError.Shutdown, // EPIPE
        104 => SocketError.ConnectionReset,
        107 => SocketError.NotConnected,
        108 => SocketError.Shutdown, // ESHUTDOWN
        103 => SocketError.ConnectionAborted,
        9 or 125 => SocketError.OperationAborted, // EBADF, ECANCELED
        110 => SocketError.TimedOut,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        105 => SocketError.NoBufferSpaceAvailable,
        _ => SocketError.SocketError,
    };
}
