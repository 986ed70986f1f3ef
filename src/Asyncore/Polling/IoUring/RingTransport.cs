using System.Net.Sockets;
using System.Runtime.Versioning;
using Asyncore.Transport;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Polling;

/// <summary>
/// A channel's bytes through the io_uring backend's ring: its receives are read from the buffers a
/// multishot receive filled, and its sends are copied into a buffer the ring sends from, for the
/// channels whose input and output the library owns (a plain <see cref="AsyncChat"/> with the
/// library's predicates). Other channels, and a channel once TLS starts, use recv(2) and send(2).
/// </summary>
/// <remarks>
/// One per channel, made by <see cref="IoUringPoller"/> for its map, which is bound to that ring for
/// its life: the receiver and the sender have one owner, this transport, on the ring's thread.
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed class RingTransport(IoUringPoller ring) : ChannelTransport
{
    private IoUringSender? _send;
    private IoUringReceiver? _recv;

    /// <summary>Whether the channel has read through the ring (tests).</summary>
    internal bool HasReceiver => _recv is not null;

    /// <summary>Whether the channel's ring receives pick from the large buffers (tests).</summary>
    internal bool ReceivesLarge => _recv is { Large: true };

    /// <summary>Whether the channel has sent through the ring (tests).</summary>
    internal bool HasSender => _send is not null;

    internal override int Receive(Dispatcher channel, Span<byte> buffer, out SocketError error)
    {
        if (!TryReceive(channel, buffer, out int n, out error))
        {
            return SocketTransport.Instance.Receive(channel, buffer, out error); // the ring does not read for it
        }

        return n;
    }

    internal override int Send(Dispatcher channel, ReadOnlySpan<byte> data, out SocketError error)
    {
        if (!TrySend(channel, data, out int n, out error))
        {
            return SocketTransport.Instance.Send(channel, data, out error);
        }

        return n;
    }

    /// <summary>
    /// Bytes (or an end of stream, or an error) the ring received for this channel that it has not
    /// read yet, whether or not the channel has read through the ring before; or, while the ring holds
    /// completions the loop has not taken yet (a wait stops taking them when its event buffer is
    /// full), possibly some of them: a drain's idle test then waits a pass rather than close a
    /// channel whose request is in the ring.
    /// </summary>
    internal override bool InputWaiting(Dispatcher channel)
    {
        if (_recv is { HasInput: true })
        {
            return true;
        }

        return channel.Registration is { } reg && (ring.CompletionsUntaken || ring.ReceiverFor(reg.Fd, channel.PollOwner) is { HasInput: true });
    }

    /// <summary>Sends through the ring are copied into the channel's SEND buffer, up to 256 KiB a pass: the channel need not gather them.</summary>
    internal override bool GathersSends(Dispatcher channel) => ring.UsableHere && channel.RingMaySend && !channel.TlsStarted;

    /// <summary>Whether bytes a send took are still on their way through the ring; the channel then hears a write event when they complete.</summary>
    internal override bool SendPending(Dispatcher channel)
    {
        if (_send is { InFlight: true, Detached: false } s)
        {
            s.Notify = true;
            return true;
        }

        return false;
    }

    /// <summary>A file region goes out with sendfile(2) on the channel's socket once none of its bytes are in the ring.</summary>
    internal override bool SendsFiles => SocketTransport.Instance.SendsFiles;

    /// <summary>
    /// sendfile(2) on the channel's socket, as on epoll, once none of the channel's bytes are in the
    /// ring: a SEND the kernel has not seen yet (the answer's head, pushed in the same pass) is taken
    /// back and sent with send(2) first; a SEND in the kernel makes this would-block, and its
    /// completion is the channel's write event. A full socket (EAGAIN) is waited for with the ring's
    /// poll, as any would-block send is.
    /// </summary>
    internal override int SendFile(Dispatcher channel, SafeFileHandle file, long offset, int count, out SocketError error)
    {
        if (_send is { Detached: false, InFlight: true } s && (!ring.UsableHere || !ring.SendUnsubmittedNow(s)))
        {
            s.Notify = true;
            error = SocketError.WouldBlock; // bytes in the ring go first
            return 0;
        }

        return SocketTransport.Instance.SendFile(channel, file, offset, count, out error);
    }

    /// <returns>False when the plain recv(2) path applies.</returns>
    private bool TryReceive(Dispatcher channel, Span<byte> buffer, out int result, out SocketError error)
    {
        result = 0;
        error = SocketError.Success;
        IoUringReceiver? r = _recv;
        if (r is null || (r.Detached && !r.HasBytes))
        {
            _recv = r = channel.Registration is { } reg ? ring.ReceiverFor(reg.Fd, channel.PollOwner) : null;
            if (r is null)
            {
                return false;
            }
        }

        int n = r.Detached || channel.Registration is null ? TakeCarry(r, buffer) : ring.Receive(r, buffer);
        if (n == IoUringPoller.NotReceiving || (n == Dispatcher.WouldBlock && r.Detached))
        {
            return false; // the ring does not read for it now (TLS started, or the channel left): recv(2)
        }

        if (n >= 0)
        {
            result = n;
        }
        else if (n == Dispatcher.WouldBlock)
        {
            error = SocketError.WouldBlock;
        }
        else
        {
            error = SocketErrorOf(-n);
        }

        return true;
    }

    /// <summary>Bytes copied out of the ring's buffers when the map closed, read before anything else.</summary>
    private static int TakeCarry(IoUringReceiver r, Span<byte> buffer)
    {
        if (r.Carry is not { } carry || r.CarryStart >= carry.Length)
        {
            return Dispatcher.WouldBlock;
        }

        int take = Math.Min(buffer.Length, carry.Length - r.CarryStart);
        carry.AsSpan(r.CarryStart, take).CopyTo(buffer);
        r.CarryStart += take;
        return take;
    }

    /// <returns>False when the plain send(2) path applies.</returns>
    private bool TrySend(Dispatcher channel, ReadOnlySpan<byte> data, out int result, out SocketError error)
    {
        result = 0;
        error = SocketError.Success;
        IoUringSender? s = _send;
        if (s is not null && s.Detached)
        {
            _send = s = null;
        }

        if (!ring.UsableHere)
        {
            if (s is { InFlight: true })
            {
                s.Notify = true;
                error = SocketError.WouldBlock; // bytes in the ring go first
                return true;
            }

            return false;
        }

        if (s is null)
        {
            if (!channel.RingMaySend || channel.Registration is not { } reg)
            {
                return false;
            }

            _send = s = ring.SenderFor(reg.Fd, channel.PollOwner);
        }

        if (s.Error != 0)
        {
            error = SocketErrorOf(s.Error);
            return true;
        }

        if (channel.TlsStarted)
        {
            if (s.InFlight)
            {
                s.Notify = true; // ciphertext after the clear bytes still in the ring
                error = SocketError.WouldBlock;
                return true;
            }

            return false;
        }

        int taken = ring.Send(s, data);
        if (taken == Dispatcher.WouldBlock)
        {
            error = SocketError.WouldBlock;
        }
        else
        {
            result = taken;
        }

        return true;
    }

    /// <summary>A ring operation's errno (Linux numbering) as .NET names it, for the error rules send(2) and recv(2) results follow.</summary>
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
