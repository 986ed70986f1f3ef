using System.Net.Sockets;

namespace Asyncore;

/// <content>Socket options a listener sets before it binds.</content>
public partial class Dispatcher
{
    /// <summary>Sets SO_REUSEADDR on the socket, ignoring failure.</summary>
    /// <remarks>
    /// Python: dispatcher.set_reuse_addr(). Set as the raw option on Unix: .NET's ReuseAddress may set
    /// SO_REUSEPORT as well, which would let a second process bind the same port.
    /// </remarks>
    public void SetReuseAddr()
    {
        Socket socket = Socket ?? throw Errors.NoSocket();
        try
        {
            if (OperatingSystem.IsLinux())
            {
                socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
            }
            else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
            {
                socket.SetRawSocketOption(0xffff /* SOL_SOCKET */, 0x4 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
            }
            else
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }
        }
        catch (SocketException)
        {
            // CPython ignores OSError here.
        }
    }

    /// <summary>
    /// Sets SO_REUSEPORT on the socket, before <see cref="Bind"/>: several sockets (one per loop of a
    /// <see cref="LoopGroup"/>, or one per process) may then listen on the same address and port, and
    /// the kernel spreads new connections over them (nginx's <c>listen ... reuseport</c>).
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux, macOS or FreeBSD.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">The system refused the option.</exception>
    /// <remarks>Set as the raw option, as <see cref="SetReuseAddr"/> does.</remarks>
    public void SetReusePort()
    {
        Socket socket = Socket ?? throw Errors.NoSocket();
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            socket.SetRawSocketOption(0xffff /* SOL_SOCKET */, 0x200 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        }
        else
        {
            throw new PlatformNotSupportedException("SO_REUSEPORT is not available on this system");
        }
    }
}
