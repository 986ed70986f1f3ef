using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

using Asyncore.Tests.Support;

namespace Asyncore.Tests.Robustness;

public class LimitTests
{
    private static void Run(SocketMap map, Func<bool> until, double seconds = 20) => Drive.Until(map, until, seconds);

    private static string ReadAll(Socket s) => Encoding.Latin1.GetString(Drive.ReadToEnd(s));

    private sealed class Greeter : RecordingChat
    {
        public Greeter(Socket s, SocketMap m) : base(s, m)
        {
            MaxMessageSize = 1000;
            Push("welcome\n"u8);
            Push(new byte[200_000]); // queued before the flood: must still be sent before the close
        }
    }

    [Fact]
    public void OverTheLimitWithClosePolicyFlushesQueuedOutputThenCloses()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Greeter(s, m));
        using var flood = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        Run(map, () => acceptor.Channels.Count == 1);
        var chat = (Greeter)acceptor.Channels[0];
        var flooding = new Thread(() =>
        {
            try
            {
                for (int i = 0; i < 100; i++)
                {
                    flood.Send(new byte[10_000].Select(_ => (byte)'a').ToArray()); // 1 MB with no terminator
                }
            }
            catch (SocketException)
            {
            }
        });
        flooding.Start();
        string received = "";
        var reader = new Thread(() => received = ReadAll(flood));
        Run(map, () => chat.Fileno < 0 || chat.Events.Any(e => e.StartsWith("overflow")));
        reader.Start();
        Run(map, () => chat.Fileno < 0);
        Assert.True(reader.Join(TimeSpan.FromSeconds(20)));
        flooding.Join(TimeSpan.FromSeconds(20));

        Assert.True(chat.Fileno < 0);
        Assert.StartsWith("overflow ", chat.Events.First(e => e.StartsWith("overflow")));
        Assert.Equal(1000, chat.CollectedBytes); // exactly the limit was streamed to CollectIncomingData
        Assert.Equal(8 + 200_000, received.Length); // every byte queued before the overflow arrived
        Assert.StartsWith("welcome\n", received);
        Assert.Equal(1, chat.CloseCalls);
    }

    private sealed class LineProtocol : RecordingChat
    {
        public LineProtocol(Socket s, SocketMap m) : base(s, m)
        {
            MaxMessageSize = 10;
            OverflowPolicy = OverflowPolicy.Discard;
        }

        protected override void OnMessage(string message) => Push(Encoding.ASCII.GetBytes($"ok {message}\n"));

        protected override void HandleOverflow(long droppedBytes)
        {
            base.HandleOverflow(droppedBytes);
            Push(Encoding.ASCII.GetBytes($"line too long ({droppedBytes} dropped)\n"));
        }
    }

    [Fact]
    public void OverTheLimitWithDiscardPolicyDropsToTheNextTerminatorAndCarriesOn()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new LineProtocol(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        client.Send(Encoding.ASCII.GetBytes("short\n" + new string('x', 5000) + "\nafter\n"));
        client.Shutdown(SocketShutdown.Send);
        string answer = "";
        var reader = new Thread(() => answer = ReadAll(client));
        reader.Start();
        Run(map, () => acceptor.Channels.Count == 1 && acceptor.Channels[0].Fileno < 0);
        Assert.True(reader.Join(TimeSpan.FromSeconds(20)));
        Assert.Equal("ok short\nline too long (4990 dropped)\nok after\n", answer);
        var chat = (LineProtocol)acceptor.Channels[0];
        Assert.Equal(new[] { "short", "after" }, chat.Messages);
    }

    private sealed class Producer : IProducer
    {
        private readonly int _chunks;
        private readonly byte[] _block = new byte[64 * 1024];
        private int _given;

        public Producer(int chunks) => _chunks = chunks;

        public Func<long>? Queued { get; set; }

        public long MaxQueuedWhenPulled { get; private set; }

        public ReadOnlyMemory<byte> More()
        {
            MaxQueuedWhenPulled = Math.Max(MaxQueuedWhenPulled, Queued!());
            return _given++ < _chunks ? _block : ReadOnlyMemory<byte>.Empty;
        }
    }

    private sealed class Streamer : RecordingChat
    {
        public Streamer(Socket s, SocketMap m, Producer p) : base(s, m)
        {
            p.Queued = () => OutgoingBytes;
            PushWithProducer(p);
            CloseWhenDone();
        }
    }

    [Fact]
    public void AProducerIsPulledOnlyWhenTheSocketCanTakeData()
    {
        using var map = new SocketMap();
        var producer = new Producer(chunks: 512); // 32 MiB
        var acceptor = new Acceptor(map, (s, m) => new Streamer(s, m, producer));
        using var slow = Acceptor.Connect(acceptor.Address, receiveBuffer: 8192);
        long total = 0;
        var reader = new Thread(() =>
        {
            var buf = new byte[8192];
            int n, reads = 0;
            while ((n = slow.Receive(buf)) > 0)
            {
                total += n;
                if (++reads % 64 == 0)
                {
                    Thread.Sleep(1);
                }
            }
        });
        reader.Start();
        Run(map, () => acceptor.Channels.Count == 1 && acceptor.Channels[0].Fileno < 0, seconds: 60);
        Assert.True(reader.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal(512L * 64 * 1024, total);
        // Pulled only to fill the send being made: at most what one gathered send carries was queued then.
        Assert.InRange(producer.MaxQueuedWhenPulled, 0, AsyncChat.GatherLimit - 1);
    }

    private sealed class Pusher : RecordingChat
    {
        public Pusher(Socket s, SocketMap m) : base(s, m)
        {
            s.SendBufferSize = 16 * 1024; // so the kernel cannot absorb the answers
            HighWaterMark = 256 * 1024;
            LowWaterMark = 64 * 1024;
        }

        // Every message read makes a big answer: a client that does not read fills the queue.
        protected override void OnMessage(string message) => Push(new byte[100_000]);
    }

    [Fact]
    public void AboveTheHighWaterMarkReadingPausesUntilTheQueueDrains()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Pusher(s, m));
        using var client = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        client.NoDelay = true;
        Run(map, () => acceptor.Channels.Count == 1);
        var chat = (Pusher)acceptor.Channels[0];
        // Backpressure stops reads, not the messages of a read already made: send one request per pass.
        for (int i = 0; i < 50; i++)
        {
            client.Send("go\n"u8.ToArray());
            Thread.Sleep(2);
            EventLoop.Loop(PollerKind.Default, 0.01, map, count: 1);
        }

        Assert.True(chat.ReadingPaused);
        Assert.False(chat.Readable());
        int messagesWhilePaused = chat.Messages.Count;
        Assert.True(messagesWhilePaused < 50, "reading must stop before every request is read");
        for (int i = 0; i < 20; i++)
        {
            EventLoop.Loop(PollerKind.Default, 0.01, map, count: 1);
        }

        Assert.Equal(messagesWhilePaused, chat.Messages.Count); // no reads while paused

        long read = 0;
        var reader = new Thread(() =>
        {
            var buf = new byte[65536];
            int n;
            while (read < 50L * 100_000 && (n = client.Receive(buf)) > 0)
            {
                read += n;
            }
        });
        reader.Start();
        Run(map, () => chat.Messages.Count == 50 && chat.OutgoingBytes == 0, seconds: 30);
        Assert.True(reader.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal(50, chat.Messages.Count);
        Assert.Equal(50L * 100_000, read);
        Assert.Contains("paused", chat.Events);
        Assert.Contains("resumed", chat.Events);
        Assert.Equal("paused", chat.Events.First(e => e is "paused" or "resumed"));
    }

    private sealed class Flooder : RecordingChat
    {
        public Flooder(Socket s, SocketMap m, long? hard, long? soft) : base(s, m)
        {
            s.SendBufferSize = 16 * 1024; // the limits are about our queue: keep the kernel from absorbing it
            OutputHardLimit = hard;
            OutputSoftLimit = soft;
            OutputSoftLimitTime = TimeSpan.FromMilliseconds(300);
        }

        protected override void OnMessage(string message) => Push(new byte[int.Parse(message)]);
    }

    [Fact]
    public void ASlowConsumerOverTheHardLimitIsClosedAtOnce()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Flooder(s, m, hard: 1_000_000, soft: null));
        using var client = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        client.Send("400000\n400000\n400000\n400000\n"u8.ToArray());
        Run(map, () => acceptor.Channels.Count == 1 && acceptor.Channels[0].Fileno < 0);
        var chat = (Flooder)acceptor.Channels[0];
        Assert.True(chat.Fileno < 0);
        Assert.Contains(chat.Events, e => e.StartsWith("error: slow consumer") && e.Contains("hard limit"));
    }

    [Fact]
    public void ASlowConsumerOverTheSoftLimitForTooLongIsClosed()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Flooder(s, m, hard: null, soft: 500_000));
        using var stuck = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        using var brief = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        stuck.Send("3000000\n"u8.ToArray());
        Run(map, () => acceptor.Channels.Count == 2, seconds: 5);
        var sw = Stopwatch.StartNew();
        Run(map, () => acceptor.Channels[0].Fileno < 0 && acceptor.Channels[1].Fileno < 0 || sw.Elapsed > TimeSpan.FromSeconds(2), seconds: 5);
        var stuckChat = (Flooder)acceptor.Channels.Single(c => ((Flooder)c).Messages.Count == 1);
        var briefChat = (Flooder)acceptor.Channels.Single(c => ((Flooder)c).Messages.Count == 0);
        Assert.True(stuckChat.Fileno < 0);
        Assert.Contains(stuckChat.Events, e => e.StartsWith("error: slow consumer") && e.Contains("soft limit"));
        Assert.True(briefChat.Fileno >= 0); // never over the limit
        EventLoop.CloseAll(map);
    }
}
