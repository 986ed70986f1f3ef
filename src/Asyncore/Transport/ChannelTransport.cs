using System.Net.Sockets;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Transport;

/// <summary>
/// What carries one channel's bytes to and from the kernel, made by the map's backend
/// (<see cref="Reactor.ReactorCore.TransportFor"/>): system calls on the socket for select, poll(2)
/// and epoll (<see cref="SocketTransport"/>), the ring for io_uring (<c>Polling/IoUring/RingTransport</c>).
/// TLS is a layer above it (the channel's TLS pump reads and writes ciphertext through it), as
/// Kestrel stacks its TLS middleware over the connection's transport.
/// </summary>
/// <remarks>
/// The channel calls it for its raw receives and sends and asks it the two questions only a transport
/// that keeps bytes in flight can answer. Metrics, idle clocks and the error rules stay with the
/// channel, so every transport answers in the same terms.
/// </remarks>
internal abstract class ChannelTransport
{
    /// <summary>Receives what is there now.</summary>
    /// <param name="channel">The channel (its socket and its row in the map).</param>
    /// <param name="buffer">Where the bytes go.</param>
    /// <param name="error">Success, or the error the receive failed with (WouldBlock when nothing is there yet).</param>
    /// <returns>Bytes received, 0 at the end of stream; meaningless when <paramref name="error"/> is not Success.</returns>
    internal abstract int Receive(Dispatcher channel, Span<byte> buffer, out SocketError error);

    /// <summary>Sends, or hands to the kernel, what it takes now.</summary>
    /// <param name="channel">The channel.</param>
    /// <param name="data">The bytes.</param>
    /// <param name="error">Success, or the error the send failed with (WouldBlock when nothing was taken).</param>
    /// <returns>Bytes taken; meaningless when <paramref name="error"/> is not Success.</returns>
    internal abstract int Send(Dispatcher channel, ReadOnlySpan<byte> data, out SocketError error);

    /// <summary>
    /// Whether <see cref="SendFile"/> can send a file's bytes to this channel without copying them
    /// through user memory (sendfile(2) on a plain socket). When false the channel reads the file into
    /// a buffer and sends that.
    /// </summary>
    internal virtual bool SendsFiles => false;

    /// <summary>Sends bytes of a file straight from the kernel's page cache, what the socket takes now.</summary>
    /// <param name="channel">The channel.</param>
    /// <param name="file">An open regular file.</param>
    /// <param name="offset">The file's first byte to send.</param>
    /// <param name="count">The most bytes to send.</param>
    /// <param name="error">
    /// Success; WouldBlock when the socket took nothing; OperationNotSupported when this file cannot be
    /// sent so (the caller copies instead); or the socket's error.
    /// </param>
    /// <returns>Bytes taken, 0 when the file ends at <paramref name="offset"/>; meaningless when <paramref name="error"/> is not Success.</returns>
    /// <exception cref="IOException">Reading the file failed.</exception>
    internal virtual int SendFile(Dispatcher channel, SafeFileHandle file, long offset, int count, out SocketError error)
    {
        error = SocketError.OperationNotSupported;
        return 0;
    }

    /// <summary>
    /// Whether bytes a send took are still on their way to the socket: a close marker, a half-closed
    /// channel's end and a drain's idle test wait for them, and the channel hears a write event when
    /// they are through.
    /// </summary>
    internal virtual bool SendPending(Dispatcher channel) => false;

    /// <summary>
    /// Whether this transport copies what a send takes into a buffer of its own, where the sends of one
    /// pass come together (the ring's SEND buffer): the channel then gives it its blocks as they are
    /// instead of gathering them into larger sends first, which would copy each byte twice.
    /// </summary>
    internal virtual bool GathersSends(Dispatcher channel) => false;

    /// <summary>Whether input (bytes, an end of stream, an error) was received for the channel and not read yet, besides what the socket holds.</summary>
    internal virtual bool InputWaiting(Dispatcher channel) => false;
}
