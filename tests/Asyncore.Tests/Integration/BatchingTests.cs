using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
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
    [InlineData(PollerKind.IoUring)]
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
