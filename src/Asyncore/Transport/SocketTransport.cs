using System.Net.Sockets;
using System.Runtime.InteropServices;
using Asyncore.Interop;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Transport;

/// <summary>recv(2), send(2) and sendfile(2) on the channel's socket: the transport of select, poll(2) and epoll, which keep nothing in flight.</summary>
internal sealed class SocketTransport : ChannelTransport
{
    /// <summary>The one instance: it keeps no state of its own.</summary>
    internal static readonly SocketTransport Instance = new();

    /// <summary>sendfile(2) as this library calls it: Linux with a 64-bit off_t.</summary>
    private static readonly bool s_sendFile = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    private SocketTransport()
    {
    }

    internal override bool SendsFiles => s_sendFile;

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

    /// <summary>sendfile(2) on the channel's non-blocking socket; a partial send returns what was taken, as send(2) does.</summary>
    internal override unsafe int SendFile(Dispatcher channel, SafeFileHandle file, long offset, int count, out SocketError error)
    {
        if (!s_sendFile)
        {
            error = SocketError.OperationNotSupported;
            return 0;
        }

        Socket socket = channel.Socket ?? throw Errors.NoSocket();
        SafeSocketHandle sock;
        try
        {
            sock = socket.SafeHandle;
        }
        catch (ObjectDisposedException)
        {
            error = SocketError.OperationAborted;
            return 0;
        }

        bool sockRef = false, fileRef = false;
        try
        {
            sock.DangerousAddRef(ref sockRef);
            file.DangerousAddRef(ref fileRef);
            int outFd = (int)sock.DangerousGetHandle(), inFd = (int)file.DangerousGetHandle();
            while (true)
            {
                long at = offset;
                nint n = Libc.SendFile(outFd, inFd, &at, (nuint)count);
                if (n >= 0)
                {
                    error = SocketError.Success;
                    return (int)n;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINTR)
                {
                    continue;
                }

                error = ErrorOf(errno);
                return 0;
            }
        }
        catch (ObjectDisposedException)
        {
            error = SocketError.OperationAborted;
            return 0;
        }
        finally
        {
            if (fileRef)
            {
                file.DangerousRelease();
            }

            if (sockRef)
            {
                sock.DangerousRelease();
            }
        }
    }

    /// <summary>What a sendfile(2) errno means to the channel; a failure of the file itself throws.</summary>
    private static SocketError ErrorOf(int errno)
    {
        if (errno == Libc.EAGAIN)
        {
            return SocketError.WouldBlock;
        }

        return errno switch
        {
            Libc.EPIPE => SocketError.Shutdown,
            Libc.ECONNRESET => SocketError.ConnectionReset,
            Libc.ECONNABORTED => SocketError.ConnectionAborted,
            Libc.ENOTCONN => SocketError.NotConnected,
            Libc.EBADF => SocketError.OperationAborted,

            // A file sendfile(2) cannot read from (some file systems, a file opened without
            // O_RDONLY's page-cache path): the caller copies it instead.
            Libc.EINVAL or Libc.ENOSYS or Libc.EOPNOTSUPP => SocketError.OperationNotSupported,
            _ => throw Errors.IOError(errno),
        };
    }
}
