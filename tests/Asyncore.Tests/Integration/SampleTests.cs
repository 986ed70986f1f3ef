using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Echo;
using Asyncore.Samples.Line;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>The samples over real loopback sockets, many connections at once, every message accounted for.</summary>
public class SampleTests
{
    private static void RunUntil(SocketMap map, PollerKind kind, Func<bool> done, TimeSpan limit)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            Assert.True(sw.Elapsed < limit, "timed out");
            EventLoop.Loop(kind, timeout: 0.05, map: map, count: 1);
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void EchoServerAndClientsOnDispatcherOnly_100Concurrent(PollerKind kind)
    {
        using var map = new SocketMap();
        var server = new EchoServer(new IPEndPoint(IPAddress.Loopback, 0), map);
        var rnd = new Random(42);
        var clients = Enumerable.Range(0, 100).Select(i =>
        {
            byte[] payload = new byte[rnd.Next(1, 200_000)];
            rnd.NextBytes(payload);
            return new EchoClient(server.Address, payload, map);
        }).ToList();

        RunUntil(map, kind, () => clients.All(c => c.Fileno < 0), TimeSpan.FromSeconds(60));
        Assert.All(clients, c => Assert.True(c.Done, $"received {c.Received} bytes"));
        Assert.Equal(100, server.Accepted);
        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void LineServerAndClients_200Concurrent(PollerKind kind)
    {
        using var map = new SocketMap();
        var server = new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map);
        var clients = Enumerable.Range(0, 200).Select(i =>
            new LineClient(server.Address, Enumerable.Range(0, 50).Select(j => $"client {i} line {j} {new string('x', j * 37)}"), map)).ToList();

        RunUntil(map, kind, () => clients.All(c => c.Closed), TimeSpan.FromSeconds(60));
        for (int i = 0; i < clients.Count; i++)
        {
            var expected = Enumerable.Range(0, 50).Select(j => $"echo: client {i} line {j} {new string('x', j * 37)}").Append("bye");
            Assert.Equal(expected, clients[i].Answers);
        }

        EventLoop.CloseAll(map);
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    public void LineServerEndsALineAtCrLfOrALoneLf(int chunk)
    {
        EndPoint at = null!;
        using var loop = new LoopThread(map => at = new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map).Address);
        string answer = Drive.Exchange(at, "crlf\r\nlone lf\nmixed\r\n\nbare\rcr stays\nlast\n"u8.ToArray(), chunk);
        Assert.Equal("echo: crlf\r\necho: lone lf\r\necho: mixed\r\necho: \r\necho: bare\rcr stays\r\necho: last\r\n", answer);
        Assert.Equal("echo: a\r\nbye\r\n", Drive.Exchange(at, "a\nQUIT\nnot answered\n"u8.ToArray(), chunk));
    }

    [Fact]
    public void LineServerAnswersALongLineAndCarriesOn()
    {
        EndPoint at = null!;
        using var loop = new LoopThread(map => at = new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map).Address);
        string longest = new('x', LineHandler.MaxLine);
        string answer = Drive.Exchange(at, Encoding.ASCII.GetBytes($"{longest}\r\n{longest}y\nafter\n"));
        Assert.Equal($"echo: {longest}\r\nERR line too long\r\necho: after\r\n", answer);
    }

    /// <summary>
    /// A client that pipelines lines and never reads: once the unsent answers pass the high-water
    /// mark the server stops reading it, so it holds at most the mark plus one read's answers,
    /// while another client is served as usual.
    /// </summary>
    [Fact]
    public void LineServerPausesAClientThatNeverReads()
    {
        LineServer server = null!;
        using var loop = new LoopThread(map => server = new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map));
        var (flooder, sent) = Flood.NeverReading(server.Address, "a\n"u8, maxBytes: 16 << 20, stalled: TimeSpan.FromSeconds(1), limit: TimeSpan.FromSeconds(20));
        using (flooder)
        {
            Assert.True(sent < 16 << 20, $"the server read all {sent} bytes of a client that never reads");
            var (paused, queued) = loop.OnLoop(() => loop.Map.Values.OfType<LineHandler>().Select(h => (h.ReadingPaused, h.OutgoingCost)).Single());
            Assert.True(paused);
            Assert.InRange(queued, LineHandler.DefaultHighWaterMark / 2, LineHandler.DefaultHighWaterMark + (256 << 10)); // paused until it drains to half
            Assert.Equal("echo: still served\r\nbye\r\n", Drive.Exchange(server.Address, "still served\r\nQUIT\r\n"u8.ToArray()));
        }
    }

    [Fact]
    public void LineServerDisconnectsAClientOverItsHardOutputLimit()
    {
        LineServer server = null!;
        using var loop = new LoopThread(map => server = new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map) { HighWaterMark = null, OutputHardLimit = 64 << 10 });
        var (flooder, _) = Flood.NeverReading(server.Address, "a\n"u8, maxBytes: 16 << 20, stalled: TimeSpan.FromSeconds(1), limit: TimeSpan.FromSeconds(20));
        using (flooder)
        {
            Assert.True(Flood.ClosedByServer(flooder, TimeSpan.FromSeconds(10)));
            Assert.Equal(1, loop.OnLoop(() => loop.Map.Count)); // only the listener is left
        }
    }

    [Fact]
    public void EchoServerPausesAClientThatNeverReads()
    {
        EchoServer server = null!;
        using var loop = new LoopThread(map => server = new EchoServer(new IPEndPoint(IPAddress.Loopback, 0), map));
        var (flooder, sent) = Flood.NeverReading(server.Address, "0123456789"u8, maxBytes: 64 << 20, stalled: TimeSpan.FromSeconds(1), limit: TimeSpan.FromSeconds(20));
        using (flooder)
        {
            Assert.True(sent < 64 << 20, $"the server read all {sent} bytes of a client that never reads");
            int unsent = loop.OnLoop(() => loop.Map.Values.OfType<EchoHandler>().Single().OutBuffer.Length);
            Assert.InRange(unsent, EchoHandler.HighWaterMark, EchoHandler.HighWaterMark + 8192);
            var other = loop.OnLoop(() => new EchoClient(server.Address, "still served"u8.ToArray(), loop.Map));
            Assert.True(SpinWait.SpinUntil(() => loop.OnLoop(() => other.Fileno < 0), TimeSpan.FromSeconds(10)));
            Assert.True(loop.OnLoop(() => other.Done));
        }
    }

    private sealed class BulkSender : AsyncChat
    {
        public BulkSender(Socket socket, SocketMap map, byte[] block, int blocks) : base(socket, map)
        {
            for (int i = 0; i < blocks; i++)
            {
                Push(block.AsMemory());
            }

            CloseWhenDone();
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
        }
    }

    private sealed class BulkListener : Dispatcher
    {
        private readonly byte[] _block;
        private readonly int _blocks;

        public BulkListener(SocketMap map, byte[] block, int blocks) : base(null, map)
        {
            _block = block;
            _blocks = blocks;
            CreateSocket();
            Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Listen(1);
        }

        public BulkSender? Sender { get; private set; }

        protected override void HandleAccepted(Socket socket, EndPoint address) => Sender = new BulkSender(socket, Map, _block, _blocks);
    }

    /// <summary>CloseWhenDone after 64 MiB queued to a peer that reads slowly: all 64 MiB arrive before the close.</summary>
    [Fact]
    public void CloseWhenDoneDeliversAll64MiBToASlowReader()
    {
        const int blockSize = 64 * 1024;
        const int blocks = 1024; // 64 MiB
        byte[] block = new byte[blockSize];
        new Random(7).NextBytes(block);
        using var map = new SocketMap();
        var listener = new BulkListener(map, block, blocks);
        var endpoint = listener.Socket!.LocalEndPoint!;

        long total = 0;
        bool matched = true;
        var reader = new Thread(() =>
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.ReceiveBufferSize = 16 * 1024;
            s.Connect(endpoint);
            byte[] buf = new byte[16 * 1024];
            int reads = 0;
            while (true)
            {
                int n = s.Receive(buf);
                if (n == 0)
                {
                    break;
                }

                for (int i = 0; i < n && matched; i++)
                {
                    matched = buf[i] == block[(total + i) % blockSize];
                }

                total += n;
                if (++reads % 256 == 0)
                {
                    Thread.Sleep(1); // a slow reader
                }
            }
        });
        reader.Start();

        RunUntil(map, PollerKind.Default, () => listener.Sender is { } s && s.Fileno < 0, TimeSpan.FromSeconds(120));
        Assert.True(reader.Join(TimeSpan.FromSeconds(60)));
        Assert.True(matched, "bytes arrived out of order or corrupted");
        Assert.Equal((long)blockSize * blocks, total);
        EventLoop.CloseAll(map);
    }
}
