using System.Net.Sockets;
using Asyncore.Reactor;

namespace Asyncore;

public abstract partial class AsyncChat
{
    /// <summary>Where a connection is in its life; <see cref="Readable"/> and the close paths read only this.</summary>
    private enum ChatState
    {
        /// <summary>Reading and sending.</summary>
        Open,

        /// <summary>The peer sent its last byte while output was queued: send it, then close.</summary>
        PeerHalfClosed,

        /// <summary>We decided to close (a message over the limit with the Close policy): read no more, send up to the close marker.</summary>
        Draining,

        /// <summary>Our last byte is sent and our side shut down; reading and dropping input until the peer's end of stream or <see cref="LingerTime"/>.</summary>
        Lingering,

        /// <summary>Closed.</summary>
        Closed,
    }

    private ChatState _state;
    private Deadline? _linger;

    /// <summary>How long a closing channel keeps draining unread input after sending its last byte (default 2 s).</summary>
    public TimeSpan LingerTime { get; set; } = TimeSpan.FromSeconds(2);

    private void Enter(ChatState state)
    {
        _state = state;
        InterestChanged();
    }

    private protected override void OnNewSocket()
    {
        _state = ChatState.Open;
        _readingPaused = false;
        _midMessage = false;
        EndHold();
    }

    /// <summary>Closed: every deadline the channel has leaves the loop's heap, and the queued output's segments go back to the pool.</summary>
    private void EnterClosed()
    {
        _state = ChatState.Closed;
        _linger?.Clear();
        _proxyDeadline?.Clear();
        _proxy = null;
        _messageDeadline?.Clear();
        _softDeadline?.Clear();
        _fifo.Clear();
    }

    private protected override bool DeferCloseOnEof()
    {
        if ((_fifo.Count > 0 || TlsOutputPending || TransportSendPending()) && Connected && _state == ChatState.Open)
        {
            // Half-close: the peer has sent its last byte but may still read ours: send what is queued, then close.
            Enter(ChatState.PeerHalfClosed);
            return true;
        }

        return false;
    }

    /// <summary>
    /// The close marker was reached. Closing a TCP socket with unread input makes the kernel send a
    /// reset, and a reset makes the peer drop what it has not read yet, our last answer included.
    /// So when input is waiting, shut down our side instead (the peer sees the end of our data), read
    /// and drop input until its end of stream or <see cref="LingerTime"/>, then close.
    /// </summary>
    /// <returns>Whether the close was deferred.</returns>
    private bool BeginLingeringClose()
    {
        if (Socket is not { } socket || LingerTime <= TimeSpan.Zero)
        {
            return false;
        }

        try
        {
            if (socket.Available == 0 && !TransportInputWaiting)
            {
                return false;
            }

            TlsCloseNotify();
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }

        Enter(ChatState.Lingering);
        _linger ??= new Deadline(() => Guard(NotifyClose));
        _linger.Set(Map.Reactor.Timers, Deadline.After(Deadline.Now, LingerTime));
        return true;
    }

    private void DrainWhileLingering()
    {
        Span<byte> scratch = stackalloc byte[4096];
        _ = Recv(scratch); // dropped; at the peer's end of stream Recv calls HandleClose
    }
}
