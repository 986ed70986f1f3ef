using System.Net;
using System.Net.Sockets;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Asyncore;

/// <summary>
/// Twins of CPython 3.11 test_asyncore.BaseTestAPI, run as TestAPI_UseIPv4/IPv6/UnixSockets ×
/// Select/Poll, plus epoll. Each case keeps its Python name; the family and backend are the theory's
/// arguments. Each test has a map of its own (CPython uses the process-wide one), so they can run in
/// parallel.
/// </summary>
public sealed class BaseTestApiTests : IDisposable
{
    private readonly SocketMap _map = new();
    private readonly List<EndPoint> _paths = new();

    public void Dispose()
    {
        EventLoop.CloseAll(_map, ignoreAll: true);
        _map.Dispose();
        foreach (EndPoint p in _paths)
        {
            Backends.Unlink(p);
        }
    }

    private EndPoint Address(AddressFamily family)
    {
        EndPoint a = Backends.AnyAddress(family);
        _paths.Add(a);
        return a;
    }

    /// <summary>BaseTestHandler: every unexpected callback is a failure, and handle_error re-raises (here: ends the loop with the error).</summary>
    private class BaseTestHandler : Dispatcher
    {
        public BaseTestHandler(Socket? socket, SocketMap map) : base(socket, map)
        {
        }

        public bool Flag { get; set; }

        protected override void HandleAccept() => throw new InvalidOperationException("handle_accept not supposed to be called");

        protected override void HandleAccepted(Socket socket, EndPoint address) => throw new InvalidOperationException("handle_accepted not supposed to be called");

        protected override void HandleConnect() => throw new InvalidOperationException("handle_connect not supposed to be called");

        protected override void HandleExpt() => throw new InvalidOperationException("handle_expt not supposed to be called");

        protected internal override void HandleClose() => throw new InvalidOperationException("handle_close not supposed to be called");

        protected internal override void HandleError(Exception exception) => throw new ExitNowException("re-raised from HandleError", exception);
    }

    private sealed class BaseServer : Dispatcher
    {
        private readonly Func<Socket, Dispatcher> _handler;

        public BaseServer(AddressFamily family, EndPoint addr, SocketMap map, Func<Socket, Dispatcher>? handler = null) : base(null, map)
        {
            CreateSocket(family);
            SetReuseAddr();
            Bind(addr);
            Listen(5);
            _handler = handler ?? (s => new BaseTestHandler(s, map));
        }

        public EndPoint Address => Socket!.LocalEndPoint!;

        protected override void HandleAccepted(Socket socket, EndPoint address) => _handler(socket);

        protected internal override void HandleError(Exception exception) => throw new ExitNowException("re-raised from HandleError", exception);
    }

    private class BaseClient : BaseTestHandler
    {
        public BaseClient(AddressFamily family, EndPoint address, SocketMap map) : base(null, map)
        {
            CreateSocket(family);
            Connect(address);
        }

        protected override void HandleConnect()
        {
        }
    }

    private void LoopWaitingForFlag(PollerKind kind, Func<bool> flag)
    {
        for (int count = 100; _map.Count > 0 && count > 0; count--)
        {
            EventLoop.Loop(kind, timeout: 0.01, map: _map, count: 1);
            if (flag())
            {
                return;
            }

            Thread.Sleep(10);
        }

        Assert.Fail("flag not set");
    }

    private sealed class ConnectFlagClient : BaseClient
    {
        public ConnectFlagClient(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        protected override void HandleConnect() => Flag = true;
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_connect(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map);
        var client = new ConnectFlagClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => client.Flag);
    }

    private class TestListener : BaseTestHandler
    {
        public TestListener(AddressFamily family, EndPoint addr, SocketMap map) : base(null, map)
        {
            CreateSocket(family);
            Bind(addr);
            Listen(5);
            Address = Socket!.LocalEndPoint!;
        }

        public EndPoint Address { get; }
    }

    private sealed class AcceptFlagListener : TestListener
    {
        public AcceptFlagListener(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        protected override void HandleAccept() => Flag = true;
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_accept(AddressFamily family, PollerKind kind)
    {
        var server = new AcceptFlagListener(family, Address(family), _map);
        _ = new BaseClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => server.Flag);
    }

    private sealed class AcceptedFlagListener : TestListener
    {
        public AcceptedFlagListener(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        public EndPoint? Peer { get; private set; }

        protected override void HandleAccept()
        {
            if (Accept() is { } pair)
            {
                HandleAccepted(pair.Socket, pair.Address);
            }
        }

        protected override void HandleAccepted(Socket socket, EndPoint address)
        {
            socket.Close();
            Peer = address;
            Flag = true;
        }
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_accepted(AddressFamily family, PollerKind kind)
    {
        var server = new AcceptedFlagListener(family, Address(family), _map);
        _ = new BaseClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => server.Flag);
        Assert.NotNull(server.Peer);
        Assert.Equal(family, server.Peer!.AddressFamily);
    }

    private sealed class ReadFlagClient : BaseClient
    {
        public ReadFlagClient(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        protected override void HandleRead() => Flag = true;
    }

    private sealed class SendingHandler : BaseTestHandler
    {
        public SendingHandler(Socket s, SocketMap m) : base(s, m) => Send(new byte[1024].Select(_ => (byte)'x').ToArray());
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_read(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map, s => new SendingHandler(s, _map));
        var client = new ReadFlagClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => client.Flag);
    }

    private sealed class WriteFlagClient : BaseClient
    {
        public WriteFlagClient(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        protected override void HandleWrite() => Flag = true;
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_write(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map);
        var client = new WriteFlagClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => client.Flag);
    }

    private sealed class CloseFlagClient : BaseClient
    {
        public CloseFlagClient(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        // In order to make handle_close be called we are supposed to make at least one recv() call.
        protected override void HandleRead() => Recv(1024);

        protected internal override void HandleClose()
        {
            Flag = true;
            Close();
        }
    }

    private sealed class ClosingHandler : BaseTestHandler
    {
        public ClosingHandler(Socket s, SocketMap m) : base(s, m) => Close();
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_close(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map, s => new ClosingHandler(s, _map));
        var client = new CloseFlagClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => client.Flag);
    }

    private sealed class BrokenConnClient : BaseClient
    {
        public BrokenConnClient(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        protected override void HandleWrite() => Send(new byte[128]);

        protected internal override void HandleClose()
        {
            Flag = true;
            Close();
        }

        protected override void HandleExpt()
        {
            Flag = true;
            Close();
        }
    }

    private sealed class ReadOnceThenCloseHandler : BaseTestHandler
    {
        public ReadOnceThenCloseHandler(Socket s, SocketMap m) : base(s, m)
        {
        }

        protected override void HandleRead()
        {
            Recv(128);
            Close();
        }

        public override bool Writable() => false;
    }

    /// <summary>test_handle_close_after_conn_broken: ECONNRESET / EPIPE while writing closes the channel (bpo-5661, bpo-11265).</summary>
    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_close_after_conn_broken(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map, s => new ReadOnceThenCloseHandler(s, _map));
        var client = new BrokenConnClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => client.Flag);
    }

    private sealed class ExptFlagClient : BaseClient
    {
        public ExptFlagClient(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        protected override void HandleExpt()
        {
            Socket!.Receive(new byte[1024], SocketFlags.OutOfBand);
            Flag = true;
        }
    }

    private sealed class OobHandler : BaseTestHandler
    {
        public OobHandler(Socket s, SocketMap m) : base(s, m) => Socket!.Send(new byte[] { 244 }, SocketFlags.OutOfBand);
    }

    /// <summary>test_handle_expt: out-of-band data reaches handle_expt. (Not applicable to AF_UNIX, as in CPython.)</summary>
    [Theory]
    [MemberData(nameof(Backends.InetFamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_expt(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map, s => new OobHandler(s, _map));
        var client = new ExptFlagClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => client.Flag);
    }

    private sealed class ErrorFlagClient : BaseClient
    {
        public ErrorFlagClient(AddressFamily f, EndPoint a, SocketMap m) : base(f, a, m)
        {
        }

        public Exception? Seen { get; private set; }

        protected override void HandleWrite() => throw new DivideByZeroException();

        protected internal override void HandleError(Exception exception)
        {
            Flag = true;
            Seen = exception;
        }
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_handle_error(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map);
        var client = new ErrorFlagClient(family, server.Address, _map);
        LoopWaitingForFlag(kind, () => client.Flag);
        Assert.IsType<DivideByZeroException>(client.Seen);
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_connection_attributes(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map);
        var client = new BaseClient(family, server.Address, _map);

        Assert.False(server.Connected);
        Assert.True(server.Accepting);
        Assert.False(client.Accepting);

        EventLoop.Loop(kind, timeout: 0.01, map: _map, count: 100);
        Assert.False(server.Connected);
        Assert.True(server.Accepting);
        Assert.True(client.Connected);
        Assert.False(client.Accepting);

        client.Close();
        Assert.False(server.Connected);
        Assert.True(server.Accepting);
        Assert.False(client.Connected);
        Assert.False(client.Accepting);

        server.Close();
        Assert.False(server.Connected);
        Assert.False(server.Accepting);
    }

    [Theory]
    [MemberData(nameof(Backends.FamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_create_socket(AddressFamily family, PollerKind kind)
    {
        _ = kind;
        var s = new Dispatcher(null, _map);
        s.CreateSocket(family);
        Assert.Equal(SocketType.Stream, s.Socket!.SocketType);
        Assert.Equal(family, s.Socket.AddressFamily);
        Assert.False(s.Socket.Blocking);
        int fdFlags = Native.Fcntl((int)s.Socket.Handle, 1 /* F_GETFD */, 0);
        Assert.True((fdFlags & 1 /* FD_CLOEXEC */) != 0, "the socket must not be inheritable");
        s.Close();
    }

    /// <summary>test_bind: a second bind to the same port fails. (Not applicable to AF_UNIX, as in CPython.)</summary>
    [Theory]
    [MemberData(nameof(Backends.InetFamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_bind(AddressFamily family, PollerKind kind)
    {
        _ = kind;
        var s1 = new Dispatcher(null, _map);
        s1.CreateSocket(family);
        s1.Bind(Address(family));
        s1.Listen(5);
        int port = ((IPEndPoint)s1.Socket!.LocalEndPoint!).Port;

        var s2 = new Dispatcher(null, _map);
        s2.CreateSocket(family);
        var loopback = family == AddressFamily.InterNetwork ? IPAddress.Loopback : IPAddress.IPv6Loopback;
        Assert.Throws<SocketException>(() => s2.Bind(new IPEndPoint(loopback, port)));
    }

    private static bool ReuseAddr(Socket s)
    {
        Span<byte> v = stackalloc byte[4];
        s.GetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, v);
        return BitConverter.ToInt32(v) != 0;
    }

    /// <summary>test_set_reuse_addr. (Not applicable to AF_UNIX, as in CPython.)</summary>
    [Theory]
    [MemberData(nameof(Backends.InetFamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_set_reuse_addr(AddressFamily family, PollerKind kind)
    {
        _ = kind;
        var s = new Dispatcher(new Socket(family, SocketType.Stream, ProtocolType.Tcp), _map);
        Assert.False(ReuseAddr(s.Socket!));
        s.Socket!.Close();
        s.CreateSocket(family);
        s.SetReuseAddr();
        Assert.True(ReuseAddr(s.Socket!));
        s.Close();
    }

    private sealed class TolerantHandler : Dispatcher
    {
        public TolerantHandler(Socket s, SocketMap m) : base(s, m)
        {
        }

        protected override void HandleRead() => Recv(1024);

        protected override void HandleWrite()
        {
        }

        protected internal override void HandleClose() => Close();
    }

    /// <summary>
    /// test_quick_connect (bpo-10340): a client that connects and resets at once must not make the
    /// loop fail. (Specific to AF_INET and AF_INET6, as in CPython.)
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.InetFamiliesAndKinds), MemberType = typeof(Backends))]
    public void test_quick_connect(AddressFamily family, PollerKind kind)
    {
        var server = new BaseServer(family, Address(family), _map, s => new TolerantHandler(s, _map));
        Exception? loopError = null;
        var t = new Thread(() =>
        {
            try
            {
                EventLoop.Loop(kind, timeout: 0.1, map: _map, count: 5);
            }
            catch (Exception e)
            {
                loopError = e;
            }
        });
        t.Start();
        try
        {
            using var s = new Socket(family, SocketType.Stream, ProtocolType.Tcp);
            s.LingerState = new LingerOption(true, 0);
            try
            {
                s.Connect(server.Address);
            }
            catch (SocketException)
            {
            }
        }
        finally
        {
            Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        }

        Assert.Null(loopError);
    }
}
