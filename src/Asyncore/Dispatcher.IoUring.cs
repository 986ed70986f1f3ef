using System.Net.Sockets;
using Asyncore.Polling;
using Asyncore.Reactor;

namespace Asyncore;

/// <content>Sends through the io_uring backend's ring, for the channels whose output the library owns.</content>
public partial class Dispatcher
{
    private IoUringSender? _uringSend;
    private IoUringReceiver? _uringRecv;

    /// <summary>
    /// Whether the io_uring backend may receive for this channel: a connected plain <see cref="AsyncChat"/>
    /// (the library reads it, through <see cref="SocketRecvRaw"/> only); the loop also requires the library's own predicates.
    /// </summary>
    internal bool RingReadsAllowed => this is AsyncChat && _tls is null && Socket is not null && Connected && !Accepting;

    /// <summary>How many bytes the channel reads at a time, for the ring's choice of buffers (0: not an <see cref="AsyncChat"/>).</summary>
    internal int RingReadSize => this is AsyncChat chat ? chat.AcInBufferSize : 0;

    /// <summary>Whether this channel has read through the ring (tests).</summary>
    internal bool HasUringReceiver => _uringRecv is not null;

    /// <summary>Whether this channel's ring receives pick from the large buffers (tests).</summary>
    internal bool UringReceivesLarge => _uringRecv is { Large: true };

    /// <summary>
    /// Bytes (or an end of stream, or an error) the ring received for this channel that it has not
    /// read yet, whether or not the channel has read through the ring before; or, while the ring holds
    /// completions the loop has not taken yet (a wait stops taking them when its event buffer is
    /// full), possibly some of them: a drain's idle test then waits a pass rather than close a
    /// channel whose request is in the ring.
    /// </summary>
    private protected bool RingInputWaiting
    {
        get
        {
            if (_uringRecv is { HasInput: true })
            {
                return true;
            }

            return OperatingSystem.IsLinux() && Registration is { Reactor.Poller: IoUringPoller poller } reg
                && (poller.CompletionsUntaken || poller.ReceiverFor(reg.Fd, PollOwner) is { HasInput: true });
        }
    }

    /// <summary>
    /// Reads from what the ring received, when this channel's reads go through it: bytes, 0 at the end
    /// of stream, <see cref="WouldBlock"/>, or the result of a failed receive as recv(2) errors are.
    /// </summary>
    /// <returns>False when the plain recv(2) path applies.</returns>
    private bool TryUringRecv(Span<byte> buffer, out int result)
    {
        result = 0;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        IoUringReceiver? r = _uringRecv;
        if (r is null || (r.Detached && !r.HasBytes))
        {
            _uringRecv = r = Registration?.Reactor.Poller is IoUringPoller poller ? poller.ReceiverFor(Registration.Fd, PollOwner) : null;
            if (r is null)
            {
                return false;
            }
        }

        IoUringPoller? owner = Registration?.Reactor.Poller as IoUringPoller;
        int n = r.Detached || owner is null ? TakeCarry(r, buffer) : owner.Receive(r, buffer);
        if (n == IoUringPoller.NotReceiving || (n == WouldBlock && r.Detached))
        {
            return false; // the ring does not read for it now (TLS started, or the backend went): recv(2)
        }

        if (n > 0)
        {
            AsyncoreMetrics.Received.Add(n);
            Touch();
            result = n;
        }
        else if (n == WouldBlock || n == 0)
        {
            result = n;
        }
        else
        {
            result = SocketErrorResult(SocketErrorOf(-n));
        }

        return true;
    }

    /// <summary>Bytes carried over from a replaced ring, once its receiver no longer belongs to a backend.</summary>
    private static int TakeCarry(IoUringReceiver r, Span<byte> buffer)
    {
        if (r.Carry is not { } carry || r.CarryStart >= carry.Length)
        {
            return WouldBlock;
        }

        int take = Math.Min(buffer.Length, carry.Length - r.CarryStart);
        carry.AsSpan(r.CarryStart, take).CopyTo(buffer);
        r.CarryStart += take;
        return take;
    }

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
