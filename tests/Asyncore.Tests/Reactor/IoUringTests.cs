using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Asyncore.Polling;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Asyncore.Tests.Reactor;

/// <summary>The io_uring backend: the bytes, the closes and the fallback (the contracts every backend keeps run over it in the × backends theories).</summary>
public class IoUringTests
{
    /// <summary>Echoes every byte it reads.</summary>
    private sealed class Echo : AsyncChat
    {
        public Echo(Socket s, SocketMap m) : base(s, m) => SetTerminator(Terminator.None);

        public int CloseCalls { get; private set; }

        public long Received { get; private set; }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
            Received += data.Length;
            Push(data);
        }

        protected override void FoundTerminator()
        {
        }

        protected internal override void HandleClose()
        {
            CloseCalls++;
            base.HandleClose();
        }
    }

    private static bool KernelAllowsIoUring()
    {
        using IoUringPoller? p = IoUringPoller.TryCreate(out _);
        return p is not null;
    }

    private static Socket Connect(EndPoint at)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 20_000, SendTimeout = 20_000 };
        s.Connect(at);
        return s;
    }

    /// <summary>Sends ASCII text and drives the map until as many bytes come back (an echo).</summary>
    private static string SendAndReadBack(SocketMap map, Socket socket, string word)
    {
        socket.Send(System.Text.Encoding.ASCII.GetBytes(word));
        var buf = new byte[word.Length];
        int got = 0;
        var reader = Task.Run(() =>
        {
            while (got < buf.Length)
            {
                got += socket.Receive(buf, got, buf.Length - got, SocketFlags.None);
            }
        });
        Drive.Until(map, () => reader.IsCompleted, kind: PollerKind.IoUring);
        Assert.True(reader.IsCompleted);
        return System.Text.Encoding.ASCII.GetString(buf);
    }

    [Fact]
    public void TheBackendIsIoUringWhereTheKernelAllowsIt()
    {
        using var map = new SocketMap();
        _ = new Acceptor(map, (s, m) => new Echo(s, m));
        EventLoop.Loop(PollerKind.IoUring, 0, map, count: 1);
        Assert.Equal(OperatingSystem.IsLinux() ? (KernelAllowsIoUring() ? "io_uring" : "epoll") : "poll", map.Reactor.BackendName);
        if (KernelAllowsIoUring() && Environment.OSVersion.Version >= new Version(6, 1))
        {
            // Kernels from 6.1 take the single-issuer, deferred-task-work setup: completions are posted only when the loop asks.
            using IoUringPoller p = IoUringPoller.TryCreate(out _)!;
            Assert.NotEqual(0u, p.SetupFlags & global::Asyncore.Interop.Libc.IORING_SETUP_DEFER_TASKRUN);
            Assert.True(p.RingReads); // the provided-buffer ring (5.19 and later)
        }
    }

    /// <summary>A connected pair with a poller sending for the server's end (the sender tests).</summary>
    private sealed class SenderPair : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly Socket _server;

        public SenderPair()
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen();
            Client = Connect(_listener.LocalEndPoint!);
            _server = _listener.Accept();
            _server.Blocking = false;
            Poller = IoUringPoller.TryCreate(out _)!;
            Sender = Poller.SenderFor(_server.Handle, _server);
        }

        public Socket Client { get; }

        public IoUringPoller Poller { get; }

        public IoUringSender Sender { get; }

        /// <summary>
        /// Waits on the ring and reads the client until <paramref name="expected"/>'s length came (at
        /// most 10 s), offering the ring what is left of it from <paramref name="from"/> on at each
        /// wait; the bytes read must be <paramref name="expected"/>.
        /// </summary>
        public void SendRestAndCheck(byte[] expected, int from)
        {
            var got = new byte[expected.Length];
            int read = 0;
            var events = new PollEvent[8];
            var deadline = Stopwatch.StartNew();
            while (read < got.Length && deadline.Elapsed < TimeSpan.FromSeconds(10))
            {
                Poller.Wait(10, events);
                if (from < expected.Length && Poller.Send(Sender, expected.AsSpan(from)) is > 0 and int n)
                {
                    from += n;
                }

                while (Client.Available > 0 && read < got.Length)
                {
                    read += Client.Receive(got, read, got.Length - read, SocketFlags.None);
                }
            }

            Assert.Equal(expected, got);
        }

        public void Dispose()
        {
            Poller.Dispose();
            _server.Dispose();
            Client.Dispose();
            _listener.Dispose();
        }
    }

    /// <summary>
    /// A channel's first small send holds a 4 KiB buffer, not 64 KiB (a small answer stuck behind a
    /// peer that does not read costs 4 KiB); more bytes before the kernel sees the SEND move it into
    /// a 64 KiB buffer, and the peer gets every byte in order.
    /// </summary>
    [Fact]
    public void ASmallSendHoldsASmallBufferThatGrowsBeforeTheKernelSeesIt()
    {
        if (!KernelAllowsIoUring())
        {
            return;
        }

        using var pair = new SenderPair();
        Assert.Equal(5, pair.Poller.Send(pair.Sender, "hello"u8));
        Assert.Equal(IoUringSender.SmallCapacity, pair.Sender.BufferCapacity);
        byte[] more = new byte[10_000];
        new Random(7).NextBytes(more);
        Assert.Equal(more.Length, pair.Poller.Send(pair.Sender, more));
        Assert.Equal(IoUringSender.Capacity, pair.Sender.BufferCapacity);
        byte[] expected = [.. "hello"u8, .. more];
        pair.SendRestAndCheck(expected, expected.Length);
    }

    /// <summary>
    /// A pass that gives a channel more than 64 KiB to send moves it to a 256 KiB buffer, so one SEND
    /// carries a bulk sender's block as one write(2) would; the bytes stay whole and in order.
    /// </summary>
    [Fact]
    public void ABulkSendGrowsToTheLargeBufferBeforeTheKernelSeesItAndStopsThere()
    {
        if (!KernelAllowsIoUring())
        {
            return;
        }

        using var pair = new SenderPair();
        byte[] expected = new byte[400_000];
        new Random(11).NextBytes(expected);
        Assert.Equal(3_000, pair.Poller.Send(pair.Sender, expected.AsSpan(0, 3_000)));
        Assert.Equal(IoUringSender.SmallCapacity, pair.Sender.BufferCapacity);
        Assert.Equal(60_000, pair.Poller.Send(pair.Sender, expected.AsSpan(3_000, 60_000)));
        Assert.Equal(IoUringSender.Capacity, pair.Sender.BufferCapacity);
        int taken = pair.Poller.Send(pair.Sender, expected.AsSpan(63_000));
        Assert.Equal(IoUringSender.LargeCapacity, pair.Sender.BufferCapacity);
        Assert.Equal(IoUringSender.LargeCapacity - 63_000, taken); // the rest waits: the buffer is full
        pair.SendRestAndCheck(expected, 63_000 + taken);
    }

    /// <summary>
    /// A channel that reads 64 KiB or more at a time receives into the large buffers and one that reads
    /// 4 KiB into the small ones, on the same loop at the same time; each echoes every byte, in order,
    /// whatever pieces the client sends them in.
    /// </summary>
    [Fact]
    public void BulkAndSmallReadersShareALoopEachOnItsOwnBuffersAndEchoEveryByte()
    {
        Acceptor? acceptor = null;
        int made = 0;
        using var loop = new LoopThread(
            map => acceptor = new Acceptor(map, (s, m) => made++ == 0
                ? new Echo(s, m) { AcInBufferSize = 256 * 1024, AcOutBufferSize = 256 * 1024 }
                : new Echo(s, m)),
            PollerKind.IoUring);
        using Socket bulk = Connect(acceptor!.Address);
        SendAndCheckEcho(bulk, 0, 1); // accepted first: the bulk channel
        using Socket small = Connect(acceptor.Address);
        SendAndCheckEcho(small, 0, 2);

        Exception? smallFailed = null;
        var alongside = new Thread(() =>
        {
            try
            {
                SendAndCheckEcho(small, 1 << 20, 4);
            }
            catch (Exception e)
            {
                smallFailed = e;
            }
        });
        alongside.Start();
        SendAndCheckEcho(bulk, 6 << 20, 3);
        Assert.True(alongside.Join(TimeSpan.FromSeconds(60)));
        Assert.Null(smallFailed);
        bool ring = KernelAllowsIoUring();
        Assert.Equal(ring, acceptor.Channels[0].UringReceivesLarge());
        Assert.False(acceptor.Channels[1].UringReceivesLarge());
        Assert.Equal(ring, acceptor.Channels[1].HasUringReceiver());
    }

    /// <summary>
    /// More bulk readers than the large buffers can serve at their cap (12 × 8 > 64): receives that find
    /// the group empty end (ENOBUFS) and are taken again once buffers come back, and every channel
    /// still echoes every byte in order.
    /// </summary>
    [Fact]
    public void MoreBulkReadersThanLargeBuffersEachEchoEveryByte()
    {
        Acceptor? acceptor = null;
        using var loop = new LoopThread(
            map => acceptor = new Acceptor(map, (s, m) => new Echo(s, m) { AcInBufferSize = 256 * 1024, AcOutBufferSize = 256 * 1024 }),
            PollerKind.IoUring);
        var clients = Enumerable.Range(0, 12).Select(_ => Connect(acceptor!.Address)).ToArray();
        try
        {
            var failures = new Exception?[clients.Length];
            var threads = clients.Select((c, i) => new Thread(() =>
            {
                try
                {
                    SendAndCheckEcho(c, 2 << 20, 100 + i);
                }
                catch (Exception e)
                {
                    failures[i] = e;
                }
            })).ToArray();
            foreach (Thread t in threads)
            {
                t.Start();
            }

            foreach (Thread t in threads)
            {
                Assert.True(t.Join(TimeSpan.FromSeconds(60)));
            }

            Assert.All(failures, Assert.Null);
            Assert.All(acceptor!.Channels, c => Assert.Equal(KernelAllowsIoUring(), c.UringReceivesLarge()));
        }
        finally
        {
            foreach (Socket c in clients)
            {
                c.Dispose();
            }
        }
    }

    /// <summary>Sends <paramref name="size"/> random bytes (at least one) in random pieces from one thread and reads the echo on this one.</summary>
    private static void SendAndCheckEcho(Socket client, int size, int seed)
    {
        var random = new Random(seed);
        var payload = new byte[Math.Max(1, size)];
        random.NextBytes(payload);
        var sender = new Thread(() =>
        {
            var pieces = new Random(seed + 1000);
            for (int at = 0; at < payload.Length;)
            {
                int n = Math.Min(payload.Length - at, pieces.Next(1, 300_000));
                client.Send(payload, at, n, SocketFlags.None);
                at += n;
            }
        });
        sender.Start();
        var back = new byte[payload.Length];
        int got = 0;
        while (got < back.Length)
        {
            int n = client.Receive(back, got, back.Length - got, SocketFlags.None);
            Assert.True(n > 0, $"the server closed after {got} of {back.Length} bytes");
            got += n;
        }

        Assert.True(sender.Join(TimeSpan.FromSeconds(20)));
        Assert.Equal(payload, back);
    }

    /// <summary>Answers each line with "ok".</summary>
    private sealed class Lines : AsyncChat
    {
        public Lines(Socket s, SocketMap m) : base(s, m) => SetTerminator("\n"u8);

        public int Answered { get; private set; }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
            Answered++;
            Push("ok\n"u8);
        }
    }

    /// <summary>
    /// A request the ring received whose completion the loop has not taken yet (a wait takes
    /// completions only while its event buffer has room) is neither in the socket nor in the channel's
    /// queue: the channel is not idle all the same, so a drain does not close it unanswered.
    /// </summary>
    [Fact]
    public void AChannelWithAReceiveStillInTheCompletionQueueIsNotIdle()
    {
        if (!KernelAllowsIoUring())
        {
            return;
        }

        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Lines(s, m));
        using Socket client = Connect(acceptor.Address);
        Drive.Until(map, () => acceptor.Channels.Count == 1, kind: PollerKind.IoUring);
        var channel = (Lines)acceptor.Channels[0];
        var poller = (IoUringPoller)map.Reactor.Poller!;

        // A first exchange: the channel's reads go through the ring from here on.
        client.Send("request\n"u8);
        Drive.Until(map, () => channel.Answered == 1 && client.Available == 3, kind: PollerKind.IoUring);
        Assert.Equal(3, client.Receive(new byte[3]));
        Assert.True(channel.HasUringReceiver());
        Drive.Until(map, () => channel.IsIdle, seconds: 5, kind: PollerKind.IoUring); // the answer's SEND completed
        Assert.True(channel.IsIdle);

        client.Send("request\n"u8);
        var deadline = Stopwatch.StartNew();
        while (!poller.CompletionsUntaken && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            poller.Wait(20, Span<PollEvent>.Empty); // the kernel receives; no room to take the completion
        }

        Assert.True(poller.CompletionsUntaken);
        Assert.Equal(0, channel.Socket!.Available);
        Assert.False(channel.IsIdle);
        Drive.Until(map, () => channel.Answered == 2 && client.Available == 3, kind: PollerKind.IoUring);
        Assert.Equal(2, channel.Answered);
    }

    [Fact]
    public void ARefusedSetupFallsBackToEpollSaysSoOnceAndServes()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var logger = new FakeLogger();
        using var map = new SocketMap { Logger = logger };
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        IoUringPoller.t_refuseSetup = 1; // EPERM, as io_uring_disabled=2 or a seccomp filter answers
        try
        {
            using Socket client = Connect(acceptor.Address);
            Assert.Equal("ping\n", SendAndReadBack(map, client, "ping\n"));
            Assert.Equal("epoll", map.Reactor.BackendName);
        }
        finally
        {
            IoUringPoller.t_refuseSetup = 0;
        }

        var warnings = logger.Collector.GetSnapshot().Where(r => r.Level == LogLevel.Warning).ToList();
        Assert.Single(warnings);
        Assert.Contains("io_uring", warnings[0].Message);
        Assert.Contains("epoll", warnings[0].Message);
    }

    public static TheoryData<int, int> SizesAndChunks()
    {
        var data = new TheoryData<int, int>();
        foreach (int size in new[] { 1, 2, 4095, 4096, 4097, 65_536, 300_001, 1 << 20 })
        {
            foreach (int chunk in new[] { int.MaxValue, 1448, 65_536 })
            {
                data.Add(size, chunk);
            }
        }

        data.Add(1000, 1);
        data.Add(10_000, 7);
        return data;
    }

    [Theory]
    [MemberData(nameof(SizesAndChunks))]
    public void EchoGivesBackExactlyTheBytesSent(int size, int chunk)
    {
        Acceptor? acceptor = null;
        using var loop = new LoopThread(map => acceptor = new Acceptor(map, (s, m) => new Echo(s, m)), PollerKind.IoUring);
        using Socket client = Connect(acceptor!.Address);
        var payload = new byte[size];
        new Random(size ^ chunk).NextBytes(payload);
        var sender = new Thread(() =>
        {
            for (int at = 0; at < size; at += chunk)
            {
                client.Send(payload, at, Math.Min(chunk, size - at), SocketFlags.None);
            }
        });
        sender.Start();
        var back = new byte[size];
        int got = 0;
        while (got < size)
        {
            int n = client.Receive(back, got, size - got, SocketFlags.None);
            Assert.True(n > 0, $"the server closed after {got} of {size} bytes");
            got += n;
        }

        Assert.True(sender.Join(TimeSpan.FromSeconds(20)));
        Assert.Equal(payload, back);
        Assert.Equal(KernelAllowsIoUring(), acceptor.Channels[0].HasUringSender()); // the replies went through the ring
        Assert.Equal(KernelAllowsIoUring(), acceptor.Channels[0].HasUringReceiver()); // and so did the requests
    }

    [Fact]
    public void APeerThatResetsMidStreamClosesTheChannelOnceAndTheLoopGoesOn()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        Socket client = Connect(acceptor.Address);
        client.Send(new byte[100_000]);
        Drive.Until(map, () => acceptor.Channels.Count == 1 && ((Echo)acceptor.Channels[0]).Received > 0, kind: PollerKind.IoUring);
        client.LingerState = new LingerOption(true, 0); // close with RST, the rest unread
        client.Close();
        var echo = (Echo)acceptor.Channels[0];
        Drive.Until(map, () => echo.Fileno < 0, kind: PollerKind.IoUring);
        Assert.Equal(1, echo.CloseCalls);
        Assert.Equal(1, map.Count); // the listener

        using Socket second = Connect(acceptor.Address);
        Assert.Equal("again", SendAndReadBack(map, second, "again"));
    }

    [Fact]
    public void APeerThatHalfClosesMidStreamGetsEverythingBackThenTheEnd()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        using Socket client = Connect(acceptor.Address);
        var payload = new byte[200_000];
        new Random(7).NextBytes(payload);
        byte[]? back = null;
        var reader = Task.Run(() => back = Drive.ReadToEnd(client));
        var sender = Task.Run(() =>
        {
            client.Send(payload);
            client.Shutdown(SocketShutdown.Send);
        });
        Drive.Until(map, () => reader.IsCompleted, kind: PollerKind.IoUring);
        Assert.True(reader.IsCompleted);
        Assert.Equal(payload, back);
        Assert.Equal(1, map.Count);
    }

    /// <summary>Answers a line with <see cref="Blocks"/> blocks of 64 KiB from a producer that reuses one buffer, as a file producer does.</summary>
    private sealed class BlockServer : AsyncChat
    {
        public const int Blocks = 32;

        public BlockServer(Socket s, SocketMap m) : base(s, m) => SetTerminator("\n"u8);

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
            Push("HEAD\n"u8);
            PushWithProducer(new Blocks64K(Blocks));
        }

        private sealed class Blocks64K(int count) : IProducer
        {
            private readonly byte[] _block = new byte[65_536];
            private int _left = count;

            public ReadOnlyMemory<byte> More()
            {
                if (_left == 0)
                {
                    return ReadOnlyMemory<byte>.Empty;
                }

                _left--;
                Array.Fill(_block, (byte)('a' + (_left % 26)));
                return _block;
            }
        }
    }

    /// <summary>
    /// A client that sends its request and half-closes at once (nc -N, curl's --no-buffer uploads, a
    /// shell's printf | nc) gets the whole answer: the peer's end of stream arrives while the ring's
    /// send still holds the first block, and the channel must keep sending the producer's other blocks.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AnAnswerOfManyProducerBlocksArrivesWholeWhenThePeerHalfClosesAfterItsRequest(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new BlockServer(s, m));
        using Socket client = Connect(acceptor.Address);
        client.Send("GET\n"u8);
        client.Shutdown(SocketShutdown.Send);
        byte[]? back = null;
        var reader = Task.Run(() => back = Drive.ReadToEnd(client));
        Drive.Until(map, () => reader.IsCompleted, kind: kind);
        Assert.True(reader.IsCompleted);
        Assert.Equal(5 + (BlockServer.Blocks * 65_536), back!.Length);
        for (int i = 0; i < BlockServer.Blocks; i++)
        {
            Assert.Equal((byte)('a' + ((BlockServer.Blocks - 1 - i) % 26)), back[5 + (i * 65_536) + 65_535]);
        }
    }

    /// <summary>An armed poll holds its socket: closing the channel must cancel it, or the peer never sees the end.</summary>
    [Fact]
    public void AChannelClosedInACallbackIsClosedForThePeerAtOnceEvenWhenTheLoopStops()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new ClosingOnFirstByte(s, m));
        using Socket client = Connect(acceptor.Address);
        client.Send("x"u8);
        Drive.Until(map, () => acceptor.Channels.Count == 1 && acceptor.Channels[0].Fileno < 0, kind: PollerKind.IoUring);
        Assert.True(acceptor.Channels[0].Fileno < 0);
        // The loop runs no further pass: the end of stream must already be on its way.
        client.ReceiveTimeout = 5000;
        Assert.Equal(0, client.Receive(new byte[1]));
    }

    private sealed class ClosingOnFirstByte : AsyncChat
    {
        public ClosingOnFirstByte(Socket s, SocketMap m) : base(s, m) => SetTerminator(Terminator.None);

        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => Close();

        protected override void FoundTerminator()
        {
        }
    }

    /// <summary>
    /// A map closed from a thread that is not its loop's, while the loop is stopped, still closes every
    /// socket (its ring takes submissions from one thread only, so the ring is closed whole); the map is
    /// bound to its ring's thread and cannot run again, and says why.
    /// </summary>
    [Fact]
    public void AMapClosedFromAnotherThreadClosesItsSocketsAndThenRefusesToRun()
    {
        using var map = new SocketMap();
        Acceptor? acceptor = null;
        Socket? client = null;
        var t = new Thread(() =>
        {
            acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
            client = Connect(acceptor.Address);
            Drive.Until(map, () => acceptor.Channels.Count == 1, kind: PollerKind.IoUring);
        });
        t.Start();
        Assert.True(t.Join(TimeSpan.FromSeconds(20)));
        Assert.Single(acceptor!.Channels);

        acceptor.Channels[0].Close(); // on this thread, not the loop's; the loop is not running
        client!.ReceiveTimeout = 5000;
        Assert.Equal(0, client.Receive(new byte[1]));
        client.Dispose();

        var refused = Assert.Throws<InvalidOperationException>(() => EventLoop.Loop(PollerKind.IoUring, 0.01, map, count: 1));
        Assert.Contains("thread", refused.Message);
        EventLoop.CloseAll(map, ignoreAll: true);
    }

    [Fact]
    public void ManyConnectionsOpenedAndClosedReuseDescriptorNumbersWithoutCrossTalk()
    {
        Acceptor? acceptor = null;
        using var loop = new LoopThread(map => acceptor = new Acceptor(map, (s, m) => new Echo(s, m)), PollerKind.IoUring);
        var sw = Stopwatch.StartNew();
        for (int round = 0; round < 200; round++)
        {
            using Socket a = Connect(acceptor!.Address);
            using Socket b = Connect(acceptor.Address);
            byte[] ma = BitConverter.GetBytes(round * 2);
            byte[] mb = BitConverter.GetBytes(round * 2 + 1);
            a.Send(ma);
            b.Send(mb);
            Assert.Equal(ma, ReadExactly(a, 4));
            Assert.Equal(mb, ReadExactly(b, 4));
        }

        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60));
    }

    /// <summary>Pushes <see cref="Total"/> bytes of a counting pattern on connect, counting what its sends accepted.</summary>
    private sealed class Firehose : AsyncChat
    {
        public const int Total = 8 << 20;

        public Firehose(Socket s, SocketMap m, bool closeWhenDone) : base(s, m)
        {
            SetTerminator(Terminator.None);
            var block = new byte[1 << 20];
            for (int i = 0; i < Total; i += block.Length)
            {
                for (int j = 0; j < block.Length; j++)
                {
                    block[j] = Pattern(i + j);
                }

                Push(block);
            }

            if (closeWhenDone)
            {
                CloseWhenDone();
            }
        }

        public long Accepted { get; private set; }

        public static byte Pattern(long at) => (byte)(at * 31 + (at >> 11));

        public override int Send(ReadOnlySpan<byte> data)
        {
            int n = base.Send(data);
            Accepted += n;
            return n;
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
        }
    }

    private static void AssertPattern(byte[] got, long length)
    {
        Assert.Equal(length, got.Length);
        for (int i = 0; i < got.Length; i++)
        {
            if (got[i] != Firehose.Pattern(i))
            {
                Assert.Fail($"byte {i} is {got[i]}, expected {Firehose.Pattern(i)}");
            }
        }
    }

    /// <summary>A peer that stops reading: the channel's sends stop being accepted once the socket and one ring buffer are full, and nothing is lost or reordered when it reads again.</summary>
    [Fact]
    public void APeerThatStopsReadingHoldsTheRingAtItsCapAndGetsEverythingWhenItReads()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Firehose(s, m, closeWhenDone: true));
        using Socket client = Connect(acceptor.Address);
        client.ReceiveBufferSize = 64 << 10;
        Drive.Until(map, () => acceptor.Channels.Count == 1, kind: PollerKind.IoUring);
        var hose = (Firehose)acceptor.Channels[0];
        long last = -1;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            Drive.Until(map, () => false, seconds: 0.3, kind: PollerKind.IoUring);
            if (hose.Accepted == last)
            {
                break; // nothing more taken: the socket is full and the ring holds at most its cap
            }

            last = hose.Accepted;
        }

        Assert.Equal(last, hose.Accepted);
        Assert.True(hose.Accepted < Firehose.Total / 2, $"{hose.Accepted} bytes accepted by a peer that reads nothing");

        byte[]? got = null;
        var reader = new Thread(() => got = Drive.ReadToEnd(client));
        reader.Start();
        Drive.Until(map, () => !reader.IsAlive, seconds: 30, kind: PollerKind.IoUring);
        Assert.True(reader.Join(TimeSpan.FromSeconds(5)));
        AssertPattern(got!, Firehose.Total);
        Assert.Equal(1, map.Count);
    }

    /// <summary>Close with sends in the ring: the peer gets a prefix of what was pushed, then the end; the loop goes on and nothing touches the closed channel.</summary>
    [Fact]
    public void ACloseWithSendsInTheRingEndsThePeersStreamWithAPrefix()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Firehose(s, m, closeWhenDone: false));
        using Socket client = Connect(acceptor.Address);
        Drive.Until(map, () => acceptor.Channels.Count == 1 && ((Firehose)acceptor.Channels[0]).Accepted > 0, kind: PollerKind.IoUring);
        var hose = (Firehose)acceptor.Channels[0];
        Drive.Until(map, () => false, seconds: 0.2, kind: PollerKind.IoUring);
        hose.Close(); // on the loop's thread, with a send in the ring or just completed
        byte[]? got = null;
        var reader = new Thread(() => got = Drive.ReadToEnd(client));
        reader.Start();
        Drive.Until(map, () => !reader.IsAlive, seconds: 20, kind: PollerKind.IoUring);
        Assert.True(reader.Join(TimeSpan.FromSeconds(5)), "the peer never saw the end of the stream");
        Assert.True(got!.Length <= hose.Accepted);
        for (int i = 0; i < got.Length; i++)
        {
            if (got[i] != Firehose.Pattern(i))
            {
                Assert.Fail($"byte {i} is {got[i]}, expected {Firehose.Pattern(i)}");
            }
        }

        Assert.Equal(1, map.Count);
    }

    /// <summary>A reply pushed and the channel closed at once, over and over: every reply reaches its own client whole, though descriptor numbers are reused at once.</summary>
    [Fact]
    public void RepliesPushedThenClosedAtOnceReachTheirOwnClientsWhileNumbersAreReused()
    {
        Acceptor? acceptor = null;
        using var loop = new LoopThread(map => acceptor = new Acceptor(map, (s, m) => new AnswerAndClose(s, m)), PollerKind.IoUring);
        for (int round = 0; round < 300; round++)
        {
            using Socket a = Connect(acceptor!.Address);
            using Socket b = Connect(acceptor.Address);
            a.Send(System.Text.Encoding.ASCII.GetBytes($"a{round}\n"));
            b.Send(System.Text.Encoding.ASCII.GetBytes($"b{round}\n"));
            Assert.Equal($"re a{round}\n" + new string('a', 5000), System.Text.Encoding.ASCII.GetString(Drive.ReadToEnd(a)));
            Assert.Equal($"re b{round}\n" + new string('b', 5000), System.Text.Encoding.ASCII.GetString(Drive.ReadToEnd(b)));
        }
    }

    private sealed class AnswerAndClose : RecordingChat
    {
        public AnswerAndClose(Socket s, SocketMap m) : base(s, m)
        {
        }

        protected override void OnMessage(string message)
        {
            Push(System.Text.Encoding.ASCII.GetBytes($"re {message}\n" + new string(message[0], 5000)));
            Close(); // straight after Push, inside the pass
        }
    }

    /// <summary>Echoes, pausing its reads over a high-water mark of queued output (backpressure).</summary>
    private sealed class PausingEcho : AsyncChat
    {
        public PausingEcho(Socket s, SocketMap m) : base(s, m)
        {
            SetTerminator(Terminator.None);
            HighWaterMark = 64 << 10;
            LowWaterMark = 16 << 10;
        }

        public int Pauses { get; private set; }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => Push(data);

        protected override void FoundTerminator()
        {
        }

        protected override void HandleBackpressure(bool readingPaused)
        {
            if (readingPaused)
            {
                Pauses++;
            }
        }
    }

    /// <summary>Reads paused by backpressure stop the ring's receive (what it already has stays queued); every byte still comes back, in order.</summary>
    [Fact]
    public void BackpressureStopsTheRingsReceiveAndEveryByteStillComesBackInOrder()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new PausingEcho(s, m));
        using Socket client = Connect(acceptor.Address);
        client.ReceiveBufferSize = 64 << 10;
        const int size = 6 << 20;
        var payload = new byte[size];
        new Random(11).NextBytes(payload);
        var sender = new Thread(() => client.Send(payload));
        sender.Start();
        Drive.Until(map, () => acceptor.Channels.Count == 1 && ((PausingEcho)acceptor.Channels[0]).Pauses > 0, kind: PollerKind.IoUring);
        var echo = (PausingEcho)acceptor.Channels[0];
        Assert.True(echo.Pauses > 0, "the echo never paused");

        var back = new byte[size];
        int got = 0;
        var reader = new Thread(() =>
        {
            while (got < size && client.Receive(back, got, size - got, SocketFlags.None) is > 0 and var n)
            {
                got += n;
            }
        });
        reader.Start();
        Drive.Until(map, () => !reader.IsAlive, seconds: 60, kind: PollerKind.IoUring);
        Assert.True(reader.Join(TimeSpan.FromSeconds(5)));
        Assert.True(sender.Join(TimeSpan.FromSeconds(5)));
        Assert.Equal(size, got);
        Assert.Equal(payload, back);
        Assert.Equal(KernelAllowsIoUring(), echo.HasUringReceiver());
    }

    /// <summary>
    /// An io_uring map belongs to the thread of its first pass: a pass from another thread throws,
    /// naming both, and changes nothing; the echo goes on, every byte in order, on the owning thread.
    /// </summary>
    [Theory]
    [InlineData(4096)]
    [InlineData(256 * 1024)]
    public void APassFromAnotherThreadThrowsNamingBothAndTheOwnerServesOn(int readSize)
    {
        if (!KernelAllowsIoUring())
        {
            return; // the fallback is epoll, which any thread may run
        }

        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m) { AcInBufferSize = readSize, AcOutBufferSize = readSize });
        using Socket client = Connect(acceptor.Address);
        Assert.Equal("before", SendAndReadBack(map, client, "before"));

        Exception? seen = null;
        var other = new Thread(() => seen = Record.Exception(() => EventLoop.Loop(PollerKind.IoUring, 0.01, map, count: 1)));
        other.Start();
        Assert.True(other.Join(TimeSpan.FromSeconds(10)));
        var refused = Assert.IsType<InvalidOperationException>(seen);
        Assert.Contains($"thread {Environment.CurrentManagedThreadId}", refused.Message);
        Assert.Contains($"thread {other.ManagedThreadId}", refused.Message);

        const int size = 512 << 10;
        var payload = new byte[size];
        new Random(5).NextBytes(payload);
        var back = new byte[size];
        int got = 0;
        var reader = new Thread(() =>
        {
            while (got < size && client.Receive(back, got, size - got, SocketFlags.None) is > 0 and var n)
            {
                got += n;
            }
        });
        reader.Start();
        var sender = new Thread(() => client.Send(payload));
        sender.Start();
        Drive.Until(map, () => !reader.IsAlive, seconds: 60, kind: PollerKind.IoUring);
        Assert.True(reader.Join(TimeSpan.FromSeconds(5)));
        Assert.True(sender.Join(TimeSpan.FromSeconds(5)));
        Assert.Equal(size, got);
        Assert.Equal(payload, back);
        Assert.Equal(readSize > 4096, acceptor.Channels[0].UringReceivesLarge());
    }

    private static byte[] ReadExactly(Socket s, int n)
    {
        var buf = new byte[n];
        int got = 0;
        while (got < n)
        {
            int r = s.Receive(buf, got, n - got, SocketFlags.None);
            Assert.True(r > 0);
            got += r;
        }

        return buf;
    }
}
