using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Proxy;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Proxy;

/// <summary>AsyncChat.RequireProxyHeader over real loopback connections: split headers, bytes after them, rejection and timeout.</summary>
public class ProxyChannelTests
{
    /// <summary>Answers each line with the channel's Addr and the line.</summary>
    private sealed class ProxiedEcho : AsyncChat
    {
        private readonly StringBuilder _line = new();

        public ProxiedEcho(Socket s, SocketMap m, TimeSpan timeout, IReadOnlyList<IPNetwork>? trusted = null) : base(s, m)
        {
            SetTerminator("\n");
            if (trusted is null)
            {
                RequireProxyHeader(timeout);
            }
            else
            {
                RequireProxyHeader(timeout, trusted);
            }
        }

        public List<ProxyHeader> Headers { get; } = new();

        public List<string> Failures { get; } = new();

        public List<string> Lines { get; } = new();

        public bool FramedBeforeHeader { get; private set; }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
            FramedBeforeHeader |= AwaitingProxyHeader;
            _line.Append(Encoding.ASCII.GetString(data));
        }

        protected override void FoundTerminator()
        {
            Lines.Add(_line.ToString());
            Push(Encoding.ASCII.GetBytes($"{Addr} {_line}\n"));
            _line.Clear();
        }

        protected override void HandleProxyHeader(ProxyHeader header) => Headers.Add(header);

        protected override void HandleProxyHeaderFailed(string reason) => Failures.Add(reason);
    }

    private static (SocketMap Map, Acceptor Acceptor, Func<ProxiedEcho?> Channel) Server(TimeSpan timeout)
    {
        var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new ProxiedEcho(s, m, timeout));
        return (map, acceptor, () => acceptor.Channels.Cast<ProxiedEcho>().SingleOrDefault());
    }

    /// <summary>Sends each chunk in its own write, running the loop between them so each arrives as a read of its own.</summary>
    private static void SendInPieces(SocketMap map, Socket client, IEnumerable<byte[]> chunks)
    {
        foreach (byte[] chunk in chunks)
        {
            client.Send(chunk);
            for (int i = 0; i < 3; i++)
            {
                EventLoop.Loop(PollerKind.Default, 0.01, map, count: 1);
            }
        }
    }

    private static string ReadLine(Socket client)
    {
        var all = new List<byte>();
        var one = new byte[1];
        while (client.Receive(one) == 1 && one[0] != '\n')
        {
            all.Add(one[0]);
        }

        return Encoding.ASCII.GetString(all.ToArray());
    }

    [Fact]
    public void AV1HeaderInPiecesGivesTheCarriedAddressAndTheBytesAfterItReachTheFramer()
    {
        (SocketMap map, Acceptor acceptor, Func<ProxiedEcho?> channel) = Server(TimeSpan.FromSeconds(10));
        using (map)
        {
            using Socket client = Acceptor.Connect(acceptor.Address);
            byte[] wire = "PROXY TCP4 203.0.113.7 192.0.2.1 40000 8080\r\nhello\nworld\n"u8.ToArray();
            SendInPieces(map, client, [wire[..3], wire[3..20], wire[20..46], wire[46..49], wire[49..]]); // the header ends inside the fourth piece
            Drive.Until(map, () => channel()?.Lines.Count == 2);
            ProxiedEcho chat = channel()!;
            Assert.Equal(new[] { "hello", "world" }, chat.Lines);
            Assert.False(chat.FramedBeforeHeader);
            Assert.Single(chat.Headers);
            Assert.Equal(new IPEndPoint(IPAddress.Parse("203.0.113.7"), 40000), chat.ProxiedSource);
            Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 8080), chat.ProxiedDestination);
            Assert.Equal(chat.ProxiedSource, chat.Addr);
            Assert.False(chat.AwaitingProxyHeader);
            Assert.Equal("203.0.113.7:40000 hello", ReadLine(client));
            Assert.Equal("203.0.113.7:40000 world", ReadLine(client));
            Assert.Equal(0, map.PendingTimers); // the header's deadline left the heap
            EventLoop.CloseAll(map);
        }
    }

    [Fact]
    public void AV2HeaderByteByByteWithTlvs()
    {
        (SocketMap map, Acceptor acceptor, Func<ProxiedEcho?> channel) = Server(TimeSpan.FromSeconds(10));
        using (map)
        {
            using Socket client = Acceptor.Connect(acceptor.Address);
            byte[] block = [.. IPAddress.Parse("2001:db8::5").GetAddressBytes(), .. IPAddress.IPv6Loopback.GetAddressBytes(), 0x1F, 0x90, 0x00, 0x50, 0x01, 0x00, 0x02, (byte)'h', (byte)'2'];
            byte[] header = [.. "\r\n\r\n\0\r\nQUIT\n"u8, 0x21, 0x21, 0, (byte)block.Length, .. block];
            SendInPieces(map, client, header.Select(b => new[] { b }));
            Drive.Until(map, () => channel()!.Headers.Count == 1);
            Assert.False(channel()!.FramedBeforeHeader);
            client.Send("ping\n"u8.ToArray());
            Drive.Until(map, () => channel()!.Lines.Count == 1);
            ProxiedEcho chat = channel()!;
            Assert.Equal(2, chat.ProxyHeader!.Version);
            Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::5"), 8080), chat.Addr);
            Assert.Equal((byte)0x01, Assert.Single(chat.ProxyHeader.Tlvs).Type);
            Assert.Equal("[2001:db8::5]:8080 ping", ReadLine(client));
            EventLoop.CloseAll(map);
        }
    }

    [Fact]
    public void ALocalHeaderKeepsTheConnectionsOwnAddress()
    {
        (SocketMap map, Acceptor acceptor, Func<ProxiedEcho?> channel) = Server(TimeSpan.FromSeconds(10));
        using (map)
        {
            using Socket client = Acceptor.Connect(acceptor.Address);
            client.Send([.. "\r\n\r\n\0\r\nQUIT\n"u8, 0x20, 0x00, 0, 0, .. "health\n"u8]);
            Drive.Until(map, () => channel()?.Lines.Count == 1);
            ProxiedEcho chat = channel()!;
            Assert.Equal(ProxyCommand.Local, chat.ProxyHeader!.Command);
            Assert.Null(chat.ProxiedSource);
            Assert.Equal(client.LocalEndPoint, chat.Addr);
            Assert.Equal($"{client.LocalEndPoint} health", ReadLine(client));
            EventLoop.CloseAll(map);
        }
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\nhello\n")]
    [InlineData("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nhello\n")]
    public void AnInvalidStartIsClosedWithoutAnAnswer(string wire)
    {
        (SocketMap map, Acceptor acceptor, Func<ProxiedEcho?> channel) = Server(TimeSpan.FromSeconds(10));
        using (map)
        {
            using Socket client = Acceptor.Connect(acceptor.Address);
            client.Send(Encoding.ASCII.GetBytes(wire));
            Drive.Until(map, () => channel() is { Fileno: < 0 });
            ProxiedEcho chat = channel()!;
            Assert.True(chat.Fileno < 0);
            Assert.Single(chat.Failures);
            Assert.Empty(chat.Lines);
            Assert.Empty(chat.Headers);
            Assert.Null(chat.ProxyHeader);
            Assert.Empty(Drive.ReadToEnd(client));
            EventLoop.CloseAll(map);
        }
    }

    [Fact]
    public void AHeaderThatNeverCompletesIsCutByTheTimeout()
    {
        (SocketMap map, Acceptor acceptor, Func<ProxiedEcho?> channel) = Server(TimeSpan.FromMilliseconds(300));
        using (map)
        {
            using Socket client = Acceptor.Connect(acceptor.Address);
            var sw = Stopwatch.StartNew();
            SendInPieces(map, client, ["PROXY TCP4 "u8.ToArray(), "10.0.0"u8.ToArray()]);
            Drive.Until(map, () => channel() is { Fileno: < 0 }, seconds: 10);
            ProxiedEcho chat = channel()!;
            Assert.True(chat.Fileno < 0);
            Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
            Assert.Contains("time", Assert.Single(chat.Failures));
            Assert.Empty(Drive.ReadToEnd(client));

            // A silent connection is cut the same way.
            using Socket silent = Acceptor.Connect(acceptor.Address);
            Drive.Until(map, () => acceptor.Channels.Count == 2 && acceptor.Channels[1].Fileno < 0, seconds: 10);
            Assert.True(acceptor.Channels[1].Fileno < 0);
            Assert.Empty(Drive.ReadToEnd(silent));
            EventLoop.CloseAll(map);
        }
    }

    [Fact]
    public void RequiringAHeaderTakesAPositiveTimeout()
    {
        (SocketMap map, Acceptor acceptor, _) = Server(TimeSpan.FromSeconds(1));
        using (map)
        {
            using Socket client = Acceptor.Connect(acceptor.Address);
            Drive.Until(map, () => acceptor.Channels.Count == 1);
            var chat = (ProxiedEcho)acceptor.Channels[0];
            Assert.Throws<ArgumentOutOfRangeException>(() => chat.RequireProxyHeader(TimeSpan.Zero));
            EventLoop.CloseAll(map);
        }
    }

    [Theory]
    [InlineData("10.0.0.0/8", false)]
    [InlineData("127.0.0.0/8", true)]
    [InlineData("::1/128", false)]
    public void OnlyATrustedSenderMayClaimAnAddress(string network, bool trusted)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new ProxiedEcho(s, m, TimeSpan.FromSeconds(10), [IPNetwork.Parse(network)]));
        using Socket client = Acceptor.Connect(acceptor.Address);
        client.Send("PROXY TCP4 203.0.113.7 10.0.0.1 40000 80\r\nhello\n"u8.ToArray());
        Drive.Until(map, () => acceptor.Channels.Count == 1 && (acceptor.Channels[0].Fileno < 0 || ((ProxiedEcho)acceptor.Channels[0]).Lines.Count == 1));
        var chat = (ProxiedEcho)acceptor.Channels[0];
        if (trusted)
        {
            Assert.Equal("203.0.113.7:40000 hello", ReadLine(client));
            Assert.Empty(chat.Failures);
        }
        else
        {
            Assert.True(chat.Fileno < 0);
            Assert.Empty(Drive.ReadToEnd(client)); // closed without an answer, whatever it claimed
            Assert.Equal("PROXY header from 127.0.0.1, which is not a trusted sender", Assert.Single(chat.Failures));
            Assert.Empty(chat.Lines);
            Assert.Empty(chat.Headers);
        }

        EventLoop.CloseAll(map);
    }

    [Fact]
    public void AnAddressAProxyHeaderClaimsIsEscapedWhereTheLibraryWritesIt()
    {
        (SocketMap map, Acceptor acceptor, Func<ProxiedEcho?> channel) = Server(TimeSpan.FromSeconds(10));
        using (map)
        {
            using Socket client = Acceptor.Connect(acceptor.Address);
            byte[] path = new byte[108];
            "/x\n10.0.0.1 - - \"GET / HTTP/1.1\" 200 \u001b[31m"u8.CopyTo(path);
            byte[] block = [.. path, .. new byte[108]];
            byte[] header = [.. "\r\n\r\n\0\r\nQUIT\n"u8, 0x21, 0x31, (byte)(block.Length >> 8), (byte)block.Length, .. block];
            client.Send(header);
            Drive.Until(map, () => channel()?.Headers.Count == 1);
            string repr = channel()!.ToString();
            Assert.DoesNotContain('\n', repr);
            Assert.DoesNotContain('\u001b', repr);
            Assert.Contains("/x\\x0a10.0.0.1", repr);
            Assert.Contains("\\x1b[31m", repr);
            EventLoop.CloseAll(map);
        }
    }
}
