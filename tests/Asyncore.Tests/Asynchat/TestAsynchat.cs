using System.Net;
using System.Net.Sockets;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Asynchat;

/// <summary>
/// Twins of CPython 3.11 test_asynchat.TestAsynchat and TestAsynchat_WithPoll, plus epoll: an
/// AsyncChat client pushes to a blocking echo server on a thread, which echoes everything back in
/// chunks of 1, 2 or 3 bytes once it sees QUIT, exercising every branch of handle_read.
/// </summary>
public class TestAsynchat
{
    private static readonly byte[] ServerQuit = "QUIT\n"u8.ToArray();

    /// <summary>test_asynchat.echo_server</summary>
    private sealed class EchoServer
    {
        private readonly Socket _sock = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly Thread _thread;

        public EchoServer(int chunkSize = 1)
        {
            ChunkSize = chunkSize;
            _sock.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _sock.Listen();
            _thread = new Thread(Run) { IsBackground = true };
            _thread.Start();
        }

        public int ChunkSize { get; }

        public ManualResetEventSlim? StartResend { get; set; }

        public List<byte> Buffer { get; } = new();

        public EndPoint Address => _sock.LocalEndPoint!;

        private void Run()
        {
            using Socket conn = _sock.Accept();
            var one = new byte[1];
            while (IndexOf(Buffer, ServerQuit) < 0)
            {
                if (conn.Receive(one) == 0)
                {
                    break;
                }

                Buffer.Add(one[0]);
            }

            int q = IndexOf(Buffer, ServerQuit);
            if (q >= 0)
            {
                Buffer.RemoveRange(q, ServerQuit.Length);
            }

            StartResend?.Wait(TimeSpan.FromSeconds(10));
            try
            {
                var data = Buffer.ToArray();
                for (int i = 0; i < data.Length;)
                {
                    int n = conn.Send(data, i, Math.Min(ChunkSize, data.Length - i), SocketFlags.None);
                    Thread.Sleep(1);
                    i += n;
                }
            }
            catch (SocketException)
            {
                // May fail in test_close_when_done, where the client closes once it is done sending.
            }

            conn.Close();
            _sock.Close();
        }

        public void Join() => Assert.True(_thread.Join(TimeSpan.FromSeconds(20)), "echo server did not finish");

        private static int IndexOf(List<byte> haystack, byte[] needle)
        {
            for (int i = 0; i + needle.Length <= haystack.Count; i++)
            {
                bool ok = true;
                for (int j = 0; j < needle.Length && ok; j++)
                {
                    ok = haystack[i + j] == needle[j];
                }

                if (ok)
                {
                    return i;
                }
            }

            return -1;
        }
    }

    /// <summary>test_asynchat.echo_client</summary>
    private sealed class EchoClient : AsyncChat
    {
        public EchoClient(Terminator terminator, EndPoint server, SocketMap map) : base(null, map)
        {
            CreateSocket();
            Connect(server);
            SetTerminator(terminator);
        }

        public List<byte[]> Contents { get; } = new();

        public List<byte> Buffer { get; } = new();

        protected override void HandleConnect()
        {
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => Buffer.AddRange(data);

        protected override void FoundTerminator()
        {
            Contents.Add(Buffer.ToArray());
            Buffer.Clear();
        }
    }

    private static void Loop(PollerKind kind, SocketMap map) => EventLoop.Loop(kind, timeout: 0.01, map: map, count: 300);

    private static string[] Text(List<byte[]> contents) => contents.Select(c => System.Text.Encoding.Latin1.GetString(c)).ToArray();

    private static void LineTerminatorCheck(PollerKind kind, byte[] term, int serverChunk)
    {
        var map = new SocketMap();
        var s = new EchoServer(serverChunk);
        var c = new EchoClient(Terminator.FromBytes(term), s.Address, map);
        c.Push("hello "u8);
        c.Push([.. "world"u8, .. term]);
        c.Push([.. "I'm not dead yet!"u8, .. term]);
        c.Push(ServerQuit);
        Loop(kind, map);
        s.Join();
        Assert.Equal(new[] { "hello world", "I'm not dead yet!" }, Text(c.Contents));
        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_line_terminator1(PollerKind kind)
    {
        foreach (int l in new[] { 1, 2, 3 })
        {
            LineTerminatorCheck(kind, "\n"u8.ToArray(), l);
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_line_terminator2(PollerKind kind)
    {
        foreach (int l in new[] { 1, 2, 3 })
        {
            LineTerminatorCheck(kind, "\r\n"u8.ToArray(), l);
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_line_terminator3(PollerKind kind)
    {
        foreach (int l in new[] { 1, 2, 3 })
        {
            LineTerminatorCheck(kind, "qqq"u8.ToArray(), l);
        }
    }

    private static void NumericTerminatorCheck(PollerKind kind, int termlen)
    {
        var map = new SocketMap();
        var s = new EchoServer();
        var c = new EchoClient(Terminator.FromCount(termlen), s.Address, map);
        byte[] data = "hello world, I'm not dead yet!\n"u8.ToArray();
        c.Push(data);
        c.Push(ServerQuit);
        Loop(kind, map);
        s.Join();
        Assert.Equal(new[] { data[..termlen] }, c.Contents);
        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_numeric_terminator1(PollerKind kind) => NumericTerminatorCheck(kind, 1);

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_numeric_terminator2(PollerKind kind) => NumericTerminatorCheck(kind, 6);

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_none_terminator(PollerKind kind)
    {
        var map = new SocketMap();
        var s = new EchoServer();
        var c = new EchoClient(Terminator.None, s.Address, map);
        byte[] data = "hello world, I'm not dead yet!\n"u8.ToArray();
        c.Push(data);
        c.Push(ServerQuit);
        Loop(kind, map);
        s.Join();
        Assert.Empty(c.Contents);
        Assert.Equal(data, c.Buffer.ToArray());
        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_simple_producer(PollerKind kind)
    {
        var map = new SocketMap();
        var s = new EchoServer();
        var c = new EchoClient(Terminator.FromBytes("\n"u8), s.Address, map);
        byte[] data = "hello world\nI'm not dead yet!\n"u8.ToArray();
        var p = new SimpleProducer([.. data, .. ServerQuit], bufferSize: 8);
        c.PushWithProducer(p);
        Loop(kind, map);
        s.Join();
        Assert.Equal(new[] { "hello world", "I'm not dead yet!" }, Text(c.Contents));
        EventLoop.CloseAll(map);
    }

    /// <summary>
    /// test_string_producer: CPython queues a bytes object on the producer queue. In C# the producer
    /// queue takes producers; bytes queued as they are go through Push(ReadOnlyMemory), which queues
    /// them without a copy. The outcome must be the same.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_string_producer(PollerKind kind)
    {
        var map = new SocketMap();
        var s = new EchoServer();
        var c = new EchoClient(Terminator.FromBytes("\n"u8), s.Address, map);
        byte[] data = "hello world\nI'm not dead yet!\n"u8.ToArray();
        c.Push(new ReadOnlyMemory<byte>([.. data, .. ServerQuit]));
        Loop(kind, map);
        s.Join();
        Assert.Equal(new[] { "hello world", "I'm not dead yet!" }, Text(c.Contents));
        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_empty_line(PollerKind kind)
    {
        var map = new SocketMap();
        var s = new EchoServer();
        var c = new EchoClient(Terminator.FromBytes("\n"u8), s.Address, map);
        c.Push("hello world\n\nI'm not dead yet!\n"u8);
        c.Push(ServerQuit);
        Loop(kind, map);
        s.Join();
        Assert.Equal(new[] { "hello world", "", "I'm not dead yet!" }, Text(c.Contents));
        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_close_when_done(PollerKind kind)
    {
        var map = new SocketMap();
        var s = new EchoServer { StartResend = new ManualResetEventSlim() };
        var c = new EchoClient(Terminator.FromBytes("\n"u8), s.Address, map);
        c.Push("hello world\nI'm not dead yet!\n"u8);
        c.Push(ServerQuit);
        c.CloseWhenDone();
        Loop(kind, map);

        // Only let the server echo after the client has closed, so it cannot echo before we check.
        s.StartResend.Set();
        s.Join();
        Assert.Empty(c.Contents);
        Assert.True(s.Buffer.Count > 0);
        EventLoop.CloseAll(map);
    }

    /// <summary>
    /// test_push (bpo-12523): push takes bytes, bytearray and memoryview. In C#: byte[], a span and
    /// ReadOnlyMemory. The TypeError for an int or a str cannot apply: the compiler rejects those.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void test_push(PollerKind kind)
    {
        var map = new SocketMap();
        var s = new EchoServer();
        var c = new EchoClient(Terminator.FromBytes("\n"u8), s.Address, map);
        byte[] data = "bytes\n"u8.ToArray();
        c.Push(data);
        c.Push(data.AsSpan());
        c.Push(data.AsMemory());
        c.Push(ServerQuit);
        Loop(kind, map);
        s.Join();
        Assert.Equal(new[] { "bytes", "bytes", "bytes" }, Text(c.Contents));
        EventLoop.CloseAll(map);
    }
}

/// <summary>Twin of CPython 3.11 test_asynchat.TestAsynchatMocked.</summary>
public class TestAsynchatMocked
{
    private sealed class WouldBlockChat : AsyncChat
    {
        public WouldBlockChat(bool throwIt) : base(null, new SocketMap()) => ThrowIt = throwIt;

        public bool ThrowIt { get; }

        public bool ErrorCalled { get; private set; }

        public override int Recv(Span<byte> buffer) =>
            ThrowIt ? throw new SocketException((int)SocketError.WouldBlock) : WouldBlock;

        public void Read() => HandleRead();

        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => throw new InvalidOperationException();

        protected override void FoundTerminator() => throw new InvalidOperationException();

        protected internal override void HandleError(Exception exception) => ErrorCalled = true;
    }

    /// <summary>test_blockingioerror (bpo-16133): handle_read ignores would-block, whether Recv reports it or throws it.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void test_blockingioerror(bool throwIt)
    {
        var d = new WouldBlockChat(throwIt);
        d.Read();
        Assert.False(d.ErrorCalled);
    }
}

/// <summary>Twin of CPython 3.11 test_asynchat.TestHelperFunctions.</summary>
public class TestHelperFunctions
{
    [Fact]
    public void test_find_prefix_at_end()
    {
        Assert.Equal(1, AsyncChat.FindPrefixAtEnd("qwerty\r"u8, "\r\n"u8));
        Assert.Equal(0, AsyncChat.FindPrefixAtEnd("qwertydkjf"u8, "\r\n"u8));
    }
}

/// <summary>Twin of CPython 3.11 test_asynchat.TestNotConnected.</summary>
public class TestNotConnected
{
    private sealed class Chat : AsyncChat
    {
        public Chat() : base(null, new SocketMap())
        {
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
        }
    }

    /// <summary>test_disallow_negative_terminator (bpo-11259).</summary>
    [Fact]
    public void test_disallow_negative_terminator()
    {
        var client = new Chat();
        Assert.Throws<ArgumentOutOfRangeException>(() => client.SetTerminator(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => client.SetTerminator(-1L));
        Assert.Throws<ArgumentOutOfRangeException>(() => Terminator.FromCount(-1));
    }

    /// <summary>Every form of set_terminator, and get_terminator's answer for each.</summary>
    [Fact]
    public void set_and_get_terminator_forms()
    {
        var c = new Chat();
        Assert.Equal(TerminatorKind.None, c.GetTerminator().Kind);
        c.SetTerminator("\r\n"u8.ToArray());
        Assert.Equal(Terminator.FromBytes("\r\n"u8), c.GetTerminator());
        c.SetTerminator("\r\n.\r\n"u8);
        Assert.Equal("b'\\r\\n.\\r\\n'", c.GetTerminator().ToString());
        c.SetTerminator("é\n");
        Assert.Equal(new byte[] { 0xE9, 0x0A }, c.GetTerminator().Bytes.ToArray());
        c.SetTerminator(42);
        Assert.Equal(TerminatorKind.Count, c.GetTerminator().Kind);
        Assert.Equal(42, c.GetTerminator().Count);
        c.SetTerminator(null);
        Assert.Equal(Terminator.None, c.GetTerminator());
        Assert.Equal("None", c.GetTerminator().ToString());
        c.SetTerminator(Terminator.FromCount(7));
        Assert.Equal("7", c.GetTerminator().ToString());
        Assert.Equal(4096, c.AcInBufferSize);
        Assert.Equal(4096, c.AcOutBufferSize);
        Assert.True(c.Readable());
        Assert.True(c.Writable()); // not connected yet
    }
}
