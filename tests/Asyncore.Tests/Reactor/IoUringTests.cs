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
public partial class IoUringTests
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
    /// A finished bulk send leaves its buffers idle for the next sends; the loop's memory hand-back
    /// (<see cref="IoUringPoller.Trim"/>) frees every one of them, and the channel's next send rents a
    /// new buffer and arrives whole.
    /// </summary>
    [Fact]
    public void TrimHandsBackTheIdleSendBuffersAndSendingGoesOnAfterIt()
    {
        if (!KernelAllowsIoUring())
        {
            return;
        }

        using var pair = new SenderPair();
        byte[] bulk = new byte[600_000];
        new Random(13).NextBytes(bulk);
        pair.SendRestAndCheck(bulk, 0);
        var events = new PollEvent[8];
        var deadline = Stopwatch.StartNew();
        while (pair.Sender.InFlight && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            pair.Poller.Wait(10, events); // the last SEND's completion
        }

        Assert.False(pair.Sender.InFlight);
        Assert.True(pair.Poller.IdleSendBuffers > 0, "a completed send keeps its buffer for the next one");
        pair.Poller.Trim();
        Assert.Equal(0, pair.Poller.IdleSendBuffers);
        byte[] more = new byte[20_000];
        new Random(17).NextBytes(more);
        pair.SendRestAndCheck(more, 0);
    }

    /// <summary>
    /// A buffer whose bytes are still in the kernel (a SEND held by a peer that does not read yet) is
    /// not idle: the hand-back leaves it to its sender, and every byte arrives once the peer reads.
    /// </summary>
    [Fact]
    public void TrimLeavesABufferWhoseBytesAreStillInTheKernel()
    {
        if (!KernelAllowsIoUring())
        {
            return;
        }

        using var pair = new SenderPair();
        byte[] bulk = new byte[32 << 20];
        new Random(19).NextBytes(bulk);
        var events = new PollEvent[8];
        int from = 0;
        var deadline = Stopwatch.StartNew();
        while (from < bulk.Length && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            // The client reads nothing yet: the socket fills, and a SEND the wait handed to the kernel stays there.
            pair.Poller.Wait(10, events);
            if (pair.Poller.Send(pair.Sender, bulk.AsSpan(from)) is > 0 and int n)
            {
                from += n;
            }
            else
            {
                break;
            }
        }

        Assert.True(pair.Sender.InFlight && from < bulk.Length, "the peer's socket did not fill");
        pair.Poller.Trim();
        pair.SendRestAndCheck(bulk, from);
    }

    /// <summary>
    /// The loop's own hand-back after a burst (<see cref="Asyncore.Reactor.ReactorCore.TrimBuffers"/>)
    /// reaches the ring: after a channel sent 4 MiB through it, no idle SEND buffer is left.
    /// </summary>
    [Fact]
    public void TheLoopsHandBackFreesTheRingsIdleSendBuffers()
    {
        if (!KernelAllowsIoUring())
        {
            return;
        }

        byte[] bulk = new byte[4 << 20];
        new Random(23).NextBytes(bulk);
        using var loop = new LoopThread(map => _ = new Acceptor(map, (s, m) =>
        {
            var chat = new Echo(s, m);
            chat.Push(bulk.AsMemory());
            chat.CloseWhenDone();
            return chat;
        }), PollerKind.IoUring);
        EndPoint at = loop.OnLoop(() => loop.Map.Values.OfType<Acceptor>().Single().Address);
        using (Socket client = Connect(at))
        {
            Assert.Equal(bulk, Drive.ReadToEnd(client));
        }

        var poller = loop.OnLoop(() => loop.Map.Reactor.Poller as IoUringPoller);
        Assert.NotNull(poller);
        Assert.True(loop.OnLoop(() => poller.IdleSendBuffers) > 0, "the sends kept their buffers for reuse");
        Assert.Equal(0, loop.OnLoop(() =>
        {
            loop.Map.Reactor.TrimBuffers();
            return poller.IdleSendBuffers;
        }));
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
