using System.Net.Sockets;
using Asyncore.Reactor;
using Asyncore.Transport;
using Microsoft.Win32.SafeHandles;

namespace Asyncore;

/// <content>The channel's transport: what carries its bytes, made by its map's backend.</content>
public partial class Dispatcher
{
    private ChannelTransport? _transport;

    /// <summary>
    /// The transport the channel's raw receives and sends go through. Made by the map's backend at
    /// the first use after the map's first pass, and kept (a map stays on its backend, or moves only
    /// between backends whose transport is the socket itself); before that pass, the socket's.
    /// </summary>
    internal ChannelTransport Transport
    {
        get
        {
            if (_transport is { } t)
            {
                return t;
            }

            if (Registration?.Reactor.TransportFor(this) is { } made)
            {
                _transport = made;
                return made;
            }

            return SocketTransport.Instance;
        }
    }

    /// <summary>The transport while the map has made one (tests).</summary>
    internal ChannelTransport? TransportIfMade => _transport;

    /// <summary>
    /// How many bytes the library reads at a time for this channel, when the library reads it
    /// (<see cref="AsyncChat"/>: <c>AcInBufferSize</c>); 0 when user code calls Recv itself. A ring
    /// receives ahead only for channels the library reads.
    /// </summary>
    internal virtual int LibraryReadSize => 0;

    /// <summary>Whether the library owns the channel's output queue (and so knows when its output is done).</summary>
    internal virtual bool LibraryOwnsOutput => false;

    /// <summary>Drops output queued and not sent (a channel whose setup failed closes without sending it).</summary>
    internal virtual void DropQueuedOutput()
    {
    }

    /// <summary>Whether a transport may receive ahead for this channel: the library reads it, in the clear, connected.</summary>
    internal bool ReceiveAheadAllowed => LibraryReadSize > 0 && _tls is null && Socket is not null && Connected && !Accepting;

    /// <summary>Whether a transport may take this channel's output into buffers of its own: the library owns the output and its predicates, in the clear.</summary>
    internal bool RingMaySend => LibraryOwnsOutput && _tls is null && Socket is not null && PredicateKind.IsLibraryOwned(this);

    /// <summary>Whether TLS was started on the channel (its transport then carries ciphertext).</summary>
    internal bool TlsStarted => _tls is not null;

    /// <summary>Input received and not read yet besides what the socket holds (a ring's buffers).</summary>
    private protected bool TransportInputWaiting => Transport.InputWaiting(this); // a ring may have received for a channel that has not read yet

    /// <summary>Whether bytes a send took are still on their way; the caller waits for them, and the channel hears a write event when they are through.</summary>
    private protected bool TransportSendPending() => _transport is { } t && t.SendPending(this);

    /// <summary>Receives through the transport with no end-of-stream handling: bytes, 0 at the end of stream, <see cref="WouldBlock"/>, or <see cref="TlsPeerGone"/> (after HandleClose).</summary>
    private int SocketRecvRaw(Span<byte> buffer)
    {
        int received = Transport.Receive(this, buffer, out SocketError error);
        if (error == SocketError.Success)
        {
            if (received > 0)
            {
                AsyncoreMetrics.Received.Add(received);
                Touch();
            }

            return received;
        }

        return SocketErrorResult(error);
    }

    /// <summary>Sends through the transport: bytes taken, <see cref="WouldBlock"/>, or <see cref="TlsPeerGone"/> (after HandleClose).</summary>
    private int SocketSendRaw(ReadOnlySpan<byte> data)
    {
        int sent = Transport.Send(this, data, out SocketError error);
        if (error == SocketError.Success)
        {
            if (sent > 0)
            {
                AsyncoreMetrics.Sent.Add(sent);
                Touch();
            }

            return sent;
        }

        return SocketErrorResult(error);
    }

    /// <summary>Whether the transport can send a file without a copy for this channel: in the clear, through the library's own <see cref="Send"/>.</summary>
    private protected bool SendsFilesNow => _tls is null && Socket is not null && PredicateKind.SendIsLibraryOwned(this) && Transport.SendsFiles;

    /// <summary>
    /// Sends bytes of a file through the transport: bytes taken (0: the file ends at
    /// <paramref name="offset"/>), <see cref="WouldBlock"/>, <see cref="TlsPeerGone"/> (after
    /// HandleClose), or <see cref="FileNotSendable"/> (copy it instead).
    /// </summary>
    private protected int SocketSendFileRaw(SafeFileHandle file, long offset, int count)
    {
        int sent = Transport.SendFile(this, file, offset, count, out SocketError error);
        if (error == SocketError.Success)
        {
            if (sent > 0)
            {
                AsyncoreMetrics.Sent.Add(sent);
                Touch();
            }

            return sent;
        }

        return error == SocketError.OperationNotSupported ? FileNotSendable : SocketErrorResult(error);
    }

    /// <summary>What <see cref="SocketSendFileRaw"/> returns for a file the transport cannot send without a copy.</summary>
    private protected const int FileNotSendable = -3;

    private int SocketErrorResult(SocketError error)
    {
        if (error == SocketError.WouldBlock)
        {
            return WouldBlock;
        }

        if (Errors.IsDisconnect(error))
        {
            NotifyClose();
            return TlsPeerGone;
        }

        throw new SocketException((int)error);
    }

    /// <summary>A raw receive's answer as <see cref="Recv(Span{byte})"/> gives it: the end of stream closes (or defers), a gone peer reads as 0.</summary>
    private int SocketRecvResult(int raw)
    {
        if (raw == 0 && !DeferCloseOnEof())
        {
            NotifyClose();
        }

        return raw == TlsPeerGone ? 0 : raw;
    }
}
