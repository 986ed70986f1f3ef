using System.Net.Sockets;

namespace Asyncore.Transport;

/// <summary>recv(2) and send(2) on the channel's socket: the transport of select, poll(2) and epoll, which keep nothing in flight.</summary>
internal sealed class SocketTransport : ChannelTransport
{
    /// <summary>The one instance: it keeps no state of its own.</summary>
    internal static readonly SocketTransport Instance = new();

    private SocketTransport()
    {
    }

    internal override int Receive(Dispatcher channel, Span<byte> buffer, out SocketError error)
    {
        Socket socket = channel.Socket ?? throw Errors.NoSocket();
        try
        {
            return socket.Receive(buffer, SocketFlags.None, out error);
        }
        catch (ObjectDisposedException)
        {
            error = SocketError.OperationAborted;
            return 0;
        }
    }

    internal override int Send(Dispatcher channel, ReadOnlySpan<byte> data, out SocketError error)
    {
        Socket socket = channel.Socket ?? throw Errors.NoSocket();
        try
        {
            return socket.Send(data, SocketFlags.None, out error);
        }
        catch (ObjectDisposedException)
        {
            error = SocketError.OperationAborted;
            return 0;
        }
    }
}
