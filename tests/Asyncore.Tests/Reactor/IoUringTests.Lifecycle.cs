using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Asyncore.Polling;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Asyncore.Tests.Reactor;

/// <content>Peers that reset, half-close or stop reading; closes from callbacks and other threads; reused numbers; backpressure; passes from another thread.</content>
public partial class IoUringTests
{
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
}
