using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Ping;
using Asyncore.Tests.Robustness;

using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>Replies pushed during one pass leave in one send at its end; the bytes are those of push-then-send.</summary>
public class BatchingTests
{
    private sealed class CountingEcho : RecordingChat
    {
        public CountingEcho(Socket s, SocketMap m, bool closeAfterFirst = false) : base(s, m) => _closeAfterFirst = closeAfterFirst;

        private readonly bool _closeAfterFirst;

        public int Sends { get; private set; }

        public override int Send(ReadOnlySpan<byte> data)
        {
            Sends++;
            return base.Send(data);
        }

        protected override void OnMessage(string message)
        {
            Push(Encoding.ASCII.GetBytes($"re: {message}\n"));
            if (_closeAfterFirst)
            {
                Close(); // straight after Push, inside the pass
            }
        }
    }

    private static string ReadAll(Socket s) => Encoding.ASCII.GetString(Drive.ReadToEnd(s));

    [Theory]
    [InlineData(PollerKind.Select)]
    [InlineData(PollerKind.Poll)]
    [InlineData(PollerKind.Epoll)]
    public void SixteenPipelinedRequestsAreAnsweredWithOneSend(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new CountingEcho(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        var sw = Stopwatch.StartNew();
        while (acceptor.Channels.Count == 0 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            EventLoop.Poll(kind, 0.05, map);
        }

        client.Send(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 16).Select(i => $"m{i}\n"))));
        var echo = (CountingEcho)acceptor.Channels[0];
        while (echo.Messages.Count < 16 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            EventLoop.Poll(kind, 0.05, map);
        }

        Assert.Equal(16, echo.Messages.Count);
        Assert.Equal(1, echo.Sends);
        client.Shutdown(SocketShutdown.Send);
        var reader = new Thread(() => Assert.Equal(string.Concat(Enumerable.Range(0, 16).Select(i => $"re: m{i}\n")), ReadAll(client)));
        reader.Start();
        while (echo.Fileno >= 0 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            EventLoop.Poll(kind, 0.05, map);
        }

        Assert.True(reader.Join(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void CloseStraightAfterPushStillSendsWhatWasPushed()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new CountingEcho(s, m, closeAfterFirst: true));
        using var client = Acceptor.Connect(acceptor.Address);
        client.Send("only\n"u8.ToArray());
        var sw = Stopwatch.StartNew();
        while ((acceptor.Channels.Count == 0 || acceptor.Channels[0].Fileno >= 0) && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            EventLoop.Loop(PollerKind.Default, 0.05, map, count: 1);
        }

        Assert.Equal("re: only\n", ReadAll(client));
    }
}

/// <summary>The RESP PING sample, as redis-benchmark and redis-cli speak to it.</summary>
public class PingServerTests
{
    private static string Exchange(string request, int chunk = int.MaxValue)
    {
        using var map = new SocketMap();
        var server = new PingServer(new IPEndPoint(IPAddress.Loopback, 0), map);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(server.Address);
        byte[] bytes = Encoding.ASCII.GetBytes(request);
        for (int i = 0; i < bytes.Length; i += chunk)
        {
            client.Send(bytes, i, Math.Min(chunk, bytes.Length - i), SocketFlags.None);
            EventLoop.Loop(PollerKind.Default, 0.01, map, count: 3);
        }

        client.Shutdown(SocketShutdown.Send);
        var all = new StringBuilder();
        var buf = new byte[4096];
        var sw = Stopwatch.StartNew();
        client.Blocking = false;
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            EventLoop.Loop(PollerKind.Default, 0.01, map, count: 1);
            int n = client.Receive(buf, 0, buf.Length, SocketFlags.None, out SocketError error);
            if (error == SocketError.Success && n == 0)
            {
                break;
            }

            if (n > 0)
            {
                all.Append(Encoding.ASCII.GetString(buf, 0, n));
            }
        }

        EventLoop.CloseAll(map);
        return all.ToString();
    }

    private const string Requests =
        "PING\r\n" +
        "*1\r\n$4\r\nPING\r\n" +
        "*2\r\n$4\r\nping\r\n$5\r\nhello\r\n" +
        "PING hi\r\n" +
        "*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n" +
        "FOO bar\r\n" +
        "*1\r\n$4\r\nPING\r\n";

    private const string Answers =
        "+PONG\r\n+PONG\r\n$5\r\nhello\r\n$2\r\nhi\r\n-ERR unknown command 'CONFIG'\r\n-ERR unknown command 'FOO'\r\n+PONG\r\n";

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    public void InlineAndMultibulkCommandsInAnyChunking(int chunk) => Assert.Equal(Answers, Exchange(Requests, chunk));

    [Fact]
    public void AProtocolErrorIsAnsweredAndTheConnectionClosed() =>
        Assert.Equal("+PONG\r\n-ERR Protocol error: expected '$', got something else\r\n", Exchange("PING\r\n*1\r\nPING\r\nPING\r\n"));
}
