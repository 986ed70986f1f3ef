using System.Net;
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
    /// Sets SO_REUSEPORT on the socket, before <see cref="Bind"/>: several sockets of this process (one
    /// per loop of a <see cref="LoopGroup"/>) may then listen on the same address and port, and the
    /// kernel spreads new connections over them (nginx's <c>listen ... reuseport</c>). The kernel would
    /// also let another process that sets it join, and split the clients between two servers without a
    /// word (a second copy started by mistake); so <see cref="Bind"/> refuses an address another process
    /// already listens on. <see cref="SetReusePort(bool)"/> with true shares it on purpose (a rolling restart).
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux, macOS or FreeBSD.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">The system refused the option.</exception>
    /// <remarks>Set as the raw option, as <see cref="SetReuseAddr"/> does.</remarks>
    public void SetReusePort() => SetReusePort(shareWithOtherProcesses: false);

    /// <summary>
    /// Sets SO_REUSEPORT (see <see cref="SetReusePort()"/>), saying whether the address may be shared
    /// with listeners of other processes.
    /// </summary>
    /// <param name="shareWithOtherProcesses">
    /// False: <see cref="Bind"/> throws when another process already listens on the address (this
    /// process's own listeners, such as a loop group's, may share it). True: the kernel's sharing as it
    /// is, for those who start a new copy before stopping the old one.
    /// </param>
    /// <exception cref="PlatformNotSupportedException">Not Linux, macOS or FreeBSD.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">The system refused the option.</exception>
    public void SetReusePort(bool shareWithOtherProcesses)
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

        _reusePort = shareWithOtherProcesses ? ReusePort.AnyProcess : ReusePort.ThisProcess;
    }

    private enum ReusePort
    {
        Off,
        ThisProcess,
        AnyProcess,
    }

    private ReusePort _reusePort;
    private string? _reusePortKey;

    /// <summary>The addresses this process listens on with SO_REUSEPORT, and how many of its sockets do.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> s_reusePortBound = new();

    /// <summary>
    /// Before a bind with SO_REUSEPORT for this process only: a socket without the option is bound to
    /// the address; it fails only where a socket already listens there, and when none of those is this
    /// process's, another process holds it.
    /// </summary>
    private void CheckReusePortAlone(EndPoint address)
    {
        if (_reusePort != ReusePort.ThisProcess || address is not IPEndPoint { Port: > 0 } ip || s_reusePortBound.ContainsKey(ReusePortKey(ip)))
        {
            return;
        }

        try
        {
            using var probe = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (OperatingSystem.IsLinux())
            {
                probe.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1)); // connections in TIME_WAIT do not count
            }

            probe.Bind(ip);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new SocketException(
                (int)SocketError.AddressAlreadyInUse,
                $"another process already listens on {ip}: with SO_REUSEPORT the kernel would split the clients between the two. Stop the other one, or call SetReusePort(shareWithOtherProcesses: true) to share the port on purpose (a rolling restart).");
        }
    }

    private void NoteReusePortBound(EndPoint address)
    {
        if (_reusePort != ReusePort.Off && Socket?.LocalEndPoint is IPEndPoint bound)
        {
            _reusePortKey = ReusePortKey(bound);
            s_reusePortBound.AddOrUpdate(_reusePortKey, 1, static (_, n) => n + 1);
        }
    }

    private void ForgetReusePortBound()
    {
        if (_reusePortKey is { } key)
        {
            _reusePortKey = null;
            while (s_reusePortBound.TryGetValue(key, out int n))
            {
                if (n <= 1 ? s_reusePortBound.TryRemove(new KeyValuePair<string, int>(key, n)) : s_reusePortBound.TryUpdate(key, n - 1, n))
                {
                    break;
                }
            }
        }
    }

    private static string ReusePortKey(IPEndPoint ip) => ip.ToString();
}
