using System.Net;
using System.Net.Sockets;

namespace Asyncore.Tests.Loops;

/// <summary>SO_REUSEPORT shares a port among this process's listeners, and refuses, by default, one another process already listens on.</summary>
public class ReusePortGuardTests
{
    private sealed class Listener : Dispatcher
    {
        public Listener(SocketMap map, IPEndPoint at, bool? share) : base(null, map)
        {
            CreateSocket();
            if (share is { } s)
            {
                SetReusePort(s);
            }
            else
            {
                SetReusePort();
            }

            Bind(at);
            Listen(16);
        }

        public int Port => ((IPEndPoint)Socket!.LocalEndPoint!).Port;
    }

    /// <summary>A listener that is not this library's: as another process's would be, as far as the guard can tell.</summary>
    private static Socket Foreign(int port = 0)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        s.Bind(new IPEndPoint(IPAddress.Loopback, port));
        s.Listen(16);
        return s;
    }

    [Fact]
    public void ABindWhereAnotherListenerHoldsThePortFailsClearly()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using Socket other = Foreign();
        int port = ((IPEndPoint)other.LocalEndPoint!).Port;
        using var map = new SocketMap();
        var refused = Assert.Throws<SocketException>(() => new Listener(map, new IPEndPoint(IPAddress.Loopback, port), share: null));
        Assert.Equal(SocketError.AddressAlreadyInUse, refused.SocketErrorCode);
        Assert.Contains("another process already listens", refused.Message);
        Assert.Contains("shareWithOtherProcesses: true", refused.Message);
        EventLoop.CloseAll(map, ignoreAll: true);
    }

    [Fact]
    public void SharingOnPurposeJoinsTheOtherListener()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using Socket other = Foreign();
        int port = ((IPEndPoint)other.LocalEndPoint!).Port;
        using var map = new SocketMap();
        var joined = new Listener(map, new IPEndPoint(IPAddress.Loopback, port), share: true);
        Assert.Equal(port, joined.Port);
        joined.Close();
    }

    [Fact]
    public void ThisProcesssListenersShareThePortAndAClosedOneIsForgotten()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        using var map = new SocketMap();
        var first = new Listener(map, new IPEndPoint(IPAddress.Loopback, 0), share: null);
        int port = first.Port;
        var second = new Listener(map, new IPEndPoint(IPAddress.Loopback, port), share: null); // a loop group's second loop
        Assert.Equal(port, second.Port);
        first.Close();
        second.Close();

        using Socket other = Foreign(port); // the port passed to another program
        Assert.Throws<SocketException>(() => new Listener(map, new IPEndPoint(IPAddress.Loopback, port), share: null));
        EventLoop.CloseAll(map, ignoreAll: true);
    }
}
