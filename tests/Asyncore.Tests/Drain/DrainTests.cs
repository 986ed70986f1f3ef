using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Drain;

/// <summary>SocketMap.BeginDrain and EventLoop.Drain over loopback: listeners at once, idle channels at once, busy ones when done, stragglers at the deadline.</summary>
public class DrainTests
{
    /// <summary>Answers each line with "echo LINE".</summary>
    private class Echo : RecordingChat
    {
        public Echo(Socket s, SocketMap m) : base(s, m)
        {
        }

        public int DrainCalls { get; private set; }

        protected override void OnMessage(string message) => Push(Encoding.ASCII.GetBytes($"echo {message}\n"));

        protected internal override void HandleDrain()
        {
            DrainCalls++;
            base.HandleDrain();
        }
    }

    /// <summary>Says goodbye SMTP's way before closing.</summary>
    private sealed class Goodbye : Echo
    {
        public Goodbye(Socket s, SocketMap m) : base(s, m)
        {
        }

        protected internal override void HandleDrain()
        {
            Push("421 closing\n"u8);
            base.HandleDrain();
        }
    }

    private static void Passes(SocketMap map, int n = 5)
    {
        for (int i = 0; i < n; i++)
        {
            EventLoop.Loop(map.Reactor.BoundKind ?? PollerKind.Default, 0.01, map, count: 1); // a map stays on its backend
        }
    }

    private static string Received(Socket s) => Encoding.ASCII.GetString(Drive.ReadToEnd(s));

    [Theory]
    [InlineData(PollerKind.Select)]
    [InlineData(PollerKind.Poll)]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring)]
    public async Task ListenersStopAtOnceIdleChannelsCloseAtOnceAndAnExchangeInProgressFinishes(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        var address = acceptor.Address;
        using Socket idle = Acceptor.Connect(address);
        using Socket busy = Acceptor.Connect(address);
        using Socket pipelined = Acceptor.Connect(address);
        Drive.Until(map, () => acceptor.Channels.Count == 3, kind: kind);
        busy.Send("hal"u8.ToArray());
        Passes(map);
        pipelined.Send("one\ntwo\nthree\n"u8.ToArray()); // sent, not yet read when the drain begins

        Task<bool> done = map.BeginDrain(TimeSpan.FromSeconds(10));
        Assert.True(map.Draining);
        // The kernel starts no new handshake on the listener now; it closes once its backlog is accepted.
        Assert.True(acceptor.Fileno >= 0 || !OperatingSystem.IsLinux());

        var chats = acceptor.Channels.Cast<Echo>().ToList();
        Assert.All(chats, c => Assert.Equal(1, c.DrainCalls));
        Assert.All(chats, c => Assert.True(c.Draining));
        // Idle: closed at once. On io_uring a completion no wait has taken yet (the other clients'
        // bytes) may be this channel's, so idleness is decided at the end of the next pass.
        Assert.True(chats[0].Fileno < 0 || kind == PollerKind.IoUring);
        Assert.True(chats[1].Fileno >= 0); // half a message received
        Assert.True(chats[2].Fileno >= 0); // requests waiting in the socket

        Passes(map, 10);
        Assert.True(chats[0].Fileno < 0);
        Assert.Equal("", Received(idle));
        Assert.Equal("echo one\necho two\necho three\n", Received(pipelined));
        Assert.True(chats[1].Fileno >= 0);
        Assert.False(done.IsCompleted);

        busy.Send("f\n"u8.ToArray());
        Drive.Until(map, () => done.IsCompleted, seconds: 10, kind: kind);
        Assert.Equal("echo half\n", Received(busy));
        Assert.True(done.IsCompleted);
        Assert.True(await done); // everything closed by itself
        Assert.Equal(0, map.Count);
        Assert.Equal(0, map.PendingTimers); // the deadline left the loop
        Assert.Same(done, map.BeginDrain(TimeSpan.FromSeconds(1)));
        Assert.True(acceptor.Fileno < 0);
        var refused = Assert.Throws<SocketException>(() => Acceptor.Connect(address));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Theory]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring)]
    public void ConnectionsWaitingInTheBacklogAreAcceptedAndClosedCleanlyNotReset(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        EventLoop.Loop(kind, 0.0, map, count: 1); // the map takes its backend before the connections arrive
        var address = acceptor.Address;
        // Completed by the kernel, never accepted: closing the listener now would reset all three.
        using Socket quiet = Acceptor.Connect(address);
        using Socket alsoQuiet = Acceptor.Connect(address);
        using Socket talking = Acceptor.Connect(address);
        talking.Send("last words\n"u8.ToArray());

        var sw = Stopwatch.StartNew();
        Assert.True(EventLoop.Drain(TimeSpan.FromSeconds(10), map));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
        Assert.Equal(3, acceptor.Channels.Count);
        Assert.All(acceptor.Channels, c => Assert.True(c.Fileno < 0));
        Assert.Equal("", Received(quiet)); // a clean close (FIN), not ECONNRESET
        Assert.Equal("", Received(alsoQuiet));
        Assert.Equal("echo last words\n", Received(talking));
        var refused = Assert.Throws<SocketException>(() => Acceptor.Connect(address));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.Equal(0, map.PendingTimers);
    }

    [Fact]
    public void TheDeadlineClosesStragglers()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        using Socket straggler = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => acceptor.Channels.Count == 1);
        straggler.Send("never finished"u8.ToArray());
        Passes(map);
        var sw = Stopwatch.StartNew();
        bool clean = EventLoop.Drain(TimeSpan.FromMilliseconds(300), map);
        Assert.False(clean);
        Assert.InRange(sw.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        Assert.Equal(0, map.Count);
        Assert.True(acceptor.Channels[0].Fileno < 0);
        Assert.Equal("", Received(straggler));
    }

    [Fact]
    public void EachProtocolSaysGoodbyeItsOwnWay()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Goodbye(s, m));
        using Socket a = Acceptor.Connect(acceptor.Address);
        using Socket b = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => acceptor.Channels.Count == 2);
        var sw = Stopwatch.StartNew();
        Assert.True(EventLoop.Drain(TimeSpan.FromSeconds(10), map));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Equal("421 closing\n", Received(a));
        Assert.Equal("421 closing\n", Received(b));
    }

    [Fact]
    public async Task AnEmptyOrListenerOnlyMapDrainsAtOnce()
    {
        using var map = new SocketMap();
        Task<bool> empty = map.BeginDrain(TimeSpan.FromSeconds(10));
        Assert.True(empty.IsCompleted);
        Assert.True(await empty);
        using var other = new SocketMap();
        var acceptor = new Acceptor(other, (s, m) => new Echo(s, m));
        Assert.True(EventLoop.Drain(TimeSpan.FromSeconds(10), other));
        Assert.True(acceptor.Fileno < 0);
        Assert.Equal(0, other.PendingTimers);
    }

    [Fact]
    public async Task DrainFromAnotherThreadThroughPost()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        using var cts = new CancellationTokenSource();
        Task loop = EventLoop.RunAsync(map, cancellationToken: cts.Token);
        using Socket client = Acceptor.Connect(acceptor.Address);
        client.Send("x\n"u8.ToArray());
        var reply = new byte[7];
        Assert.Equal(7, client.Receive(reply));
        var started = new TaskCompletionSource<Task<bool>>();
        map.Post(() => started.SetResult(map.BeginDrain(TimeSpan.FromSeconds(10))));
        Task<bool> drained = await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await drained.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("", Received(client));
        cts.Cancel();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
