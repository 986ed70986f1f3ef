using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Reactor;

/// <summary>
/// State that used to slip between owners: a half-built channel left in the map, a pass-end flush
/// list left half run, output queued on a closed channel, callbacks after Close, a drain that posts
/// to a loop nothing runs, a drain that replaced the map's backend, a loop that left its timers behind.
/// </summary>
public class OwnershipTests
{
    /// <summary>A channel whose own constructor fails after the base constructor put it in the map.</summary>
    private sealed class FailingConstructor : RecordingChat
    {
        public FailingConstructor(Socket s, SocketMap m) : base(s, m) => throw new InvalidOperationException("the subclass refused the connection");
    }

    private sealed class Echo : RecordingChat
    {
        public Echo(Socket s, SocketMap m) : base(s, m)
        {
        }

        protected override void OnMessage(string message) => Push(Encoding.ASCII.GetBytes(message + "\n"));
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AChannelWhoseConstructorThrowsIsClosedAndTheListenerKeepsAccepting(PollerKind kind)
    {
        using var map = new SocketMap();
        int made = 0;
        var acceptor = new Acceptor(map, (s, m) => made++ == 0 ? new FailingConstructor(s, m) : new Echo(s, m));
        using var first = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => made == 1, kind: kind);
        Drive.Until(map, () => map.Count == 1, seconds: 5, kind: kind);

        Assert.True(acceptor.Accepting);
        Assert.Equal(1, map.Count); // the listener alone: the half-built channel left with its socket
        Assert.Empty(Drive.ReadToEnd(first)); // the first client sees the connection closed

        using var second = Acceptor.Connect(acceptor.Address);
        second.Send("hello\n"u8.ToArray());
        var got = new byte[6];
        Drive.Until(map, () => second.Available >= 6, kind: kind);
        int n = second.Receive(got);
        Assert.Equal("hello\n", Encoding.ASCII.GetString(got, 0, n));
        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AnErrorThrownAfterAConnectionWasAcceptedClosesThatConnectionOnly(PollerKind kind)
    {
        using var map = new SocketMap();
        int made = 0;
        var acceptor = new Acceptor(map, (s, m) => made++ == 0 ? throw new InvalidOperationException("no channel for this one") : new Echo(s, m));
        using var first = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => made == 1, kind: kind);
        Assert.Empty(Drive.ReadToEnd(first)); // the accepted socket nobody took is closed, not leaked
        Assert.True(acceptor.Accepting);

        using var second = Acceptor.Connect(acceptor.Address);
        second.Send("x\n"u8.ToArray());
        Drive.Until(map, () => second.Available >= 2, kind: kind);
        Assert.Equal(2, second.Available);
        EventLoop.CloseAll(map);
    }

    /// <summary>Answers each request from a producer; one channel's producer ends the loop.</summary>
    private sealed class ProducerAnswer : RecordingChat
    {
        public ProducerAnswer(Socket s, SocketMap m) : base(s, m)
        {
        }

        protected override void OnMessage(string message)
        {
            if (message == "stop")
            {
                PushWithProducer(new ThrowingProducer());
            }
            else
            {
                Push(Encoding.ASCII.GetBytes("ok " + message + "\n"));
            }
        }

        private sealed class ThrowingProducer : IProducer
        {
            public ReadOnlyMemory<byte> More() => throw new ExitNowException();
        }
    }

    [Theory]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.Poll)]
    [InlineData(PollerKind.Select)]
    public void AProducerThatEndsTheLoopInTheEndOfPassFlushStarvesNoOtherChannel(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new ProducerAnswer(s, m));
        var clients = Enumerable.Range(0, 10).Select(_ => Acceptor.Connect(acceptor.Address)).ToArray();
        try
        {
            Drive.Until(map, () => acceptor.Channels.Count == 10, kind: kind);
            for (int i = 0; i < clients.Length; i++)
            {
                clients[i].Send(Encoding.ASCII.GetBytes(i == 3 ? "stop\n" : $"r{i}\n"));
            }

            Thread.Sleep(100); // every request is waiting: one pass reads them all
            int exits = 0;
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(10) && clients.Where((_, i) => i != 3).Any(c => c.Available == 0))
            {
                try
                {
                    EventLoop.Loop(kind, 0.02, map, count: 1);
                }
                catch (ExitNowException)
                {
                    exits++;
                }
            }

            Assert.True(exits >= 1);
            for (int i = 0; i < clients.Length; i++)
            {
                if (i != 3)
                {
                    var buf = new byte[64];
                    int n = clients[i].Receive(buf);
                    Assert.Equal($"ok r{i}\n", Encoding.ASCII.GetString(buf, 0, n));
                }
            }
        }
        finally
        {
            foreach (Socket c in clients)
            {
                c.Dispose();
            }

            EventLoop.CloseAll(map, ignoreAll: true);
        }
    }

    [Fact]
    public void PushAfterCloseHoldsNothing()
    {
        using var map = new SocketMap();
        (Socket a, Socket b) = Drive.TcpPair();
        using var peer = a;
        var chat = new RecordingChat(b, map);
        chat.Close();
        byte[] block = new byte[1 << 20];
        for (int i = 0; i < 256; i++)
        {
            chat.Push(block);
            chat.Push(new ReadOnlyMemory<byte>(block));
        }

        chat.PushWithProducer(new SimpleProducer(block));
        chat.CloseWhenDone();
        Assert.Equal(0, chat.OutgoingBytes);
        Assert.Equal(0, chat.OutgoingCost);
        Assert.False(chat.Writable() && chat.Fileno >= 0);
    }

    private sealed class CloseOnFirst : RecordingChat
    {
        public CloseOnFirst(Socket s, SocketMap m) : base(s, m)
        {
        }

        public int CollectsAfterClose { get; private set; }

        public int FoundAfterClose { get; private set; }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
            CollectsAfterClose += Fileno < 0 ? 1 : 0;
            base.CollectIncomingData(data);
        }

        protected override void FoundTerminator()
        {
            FoundAfterClose += Fileno < 0 ? 1 : 0;
            base.FoundTerminator();
        }

        protected override void OnMessage(string message) => Close();
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void NoFramingCallbackReachesAChannelClosedInFoundTerminator(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new CloseOnFirst(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => acceptor.Channels.Count == 1, kind: kind);
        client.Send("one\ntwo\nthree\nfour\nfive"u8.ToArray()); // one read holds them all
        var chat = (CloseOnFirst)acceptor.Channels[0];
        Drive.Until(map, () => chat.Fileno < 0, kind: kind);

        Assert.Equal(["one"], chat.Messages);
        Assert.Equal(0, chat.FoundAfterClose);
        Assert.Equal(0, chat.CollectsAfterClose);
        EventLoop.CloseAll(map);
    }

    private sealed class CloseInCollect : RecordingChat
    {
        public CloseInCollect(Socket s, SocketMap m) : base(s, m)
        {
        }

        public int CallsAfterClose { get; private set; }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
            CallsAfterClose += Fileno < 0 ? 1 : 0;
            Close();
        }

        protected override void FoundTerminator() => CallsAfterClose += Fileno < 0 ? 1 : 0;
    }

    [Fact]
    public void NoFramingCallbackReachesAChannelClosedInCollectIncomingData()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new CloseInCollect(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => acceptor.Channels.Count == 1);
        client.Send("one\ntwo\n"u8.ToArray());
        var chat = (CloseInCollect)acceptor.Channels[0];
        Drive.Until(map, () => chat.Fileno < 0);
        Assert.Equal(0, chat.CallsAfterClose);
    }

    [Fact]
    public async Task AGroupDrainFinishesWhenOneLoopHasEnded()
    {
        using var group = new LoopGroup(2, (map, i) => { });
        group.Start();
        var ended = new ManualResetEventSlim();
        group.Maps[1].Post(() =>
        {
            ended.Set();
            throw new ExitNowException();
        });
        Assert.True(ended.Wait(TimeSpan.FromSeconds(10)));
        Thread.Sleep(200); // the loop's thread leaves its pass and ends
        Task<bool> drain = group.DrainAsync(TimeSpan.FromSeconds(1));
        Task first = await Task.WhenAny(drain, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(first == drain, "the drain never finished");
        Assert.True(await drain);
    }

    [Fact]
    public async Task AGroupDrainBeforeStartFinishesAtOnce()
    {
        using var group = new LoopGroup(2, (map, i) => { });
        Task<bool> drain = group.DrainAsync(TimeSpan.FromSeconds(1));
        Task first = await Task.WhenAny(drain, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(first == drain, "the drain never finished");
        Assert.True(await drain);
    }

    [Theory]
    [InlineData(PollerKind.Default)]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.Poll)]
    [InlineData(PollerKind.IoUring)]
    public void DrainKeepsTheMapsBackend(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        client.Send("half a messa"u8.ToArray()); // mid-message: the drain waits for its deadline
        Drive.Until(map, () => acceptor.Channels.Count == 1 && ((Echo)acceptor.Channels[0]).CollectedBytes > 0, kind: kind);
        object? before = map.Reactor.Poller;
        Assert.NotNull(before);
        Assert.False(EventLoop.Drain(TimeSpan.FromMilliseconds(300), map)); // the README's call: no backend named
        Assert.Same(before, map.Reactor.Poller);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void LoopRunsWhileATimerIsPendingOnAnEmptyMap(PollerKind kind)
    {
        using var map = new SocketMap();
        bool ran = false;
        map.CallLater(TimeSpan.FromMilliseconds(300), () => ran = true);
        Exception? failed = null;
        var thread = new Thread(() =>
        {
            try
            {
                EventLoop.Loop(kind, 30.0, map);
            }
            catch (Exception e)
            {
                failed = e;
            }
        });
        var sw = Stopwatch.StartNew();
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(20)), "the loop did not return after its last timer");
        Assert.Null(failed);
        Assert.True(ran, "Loop() returned with a timer pending");
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public void LoopWithACountStillReturnsOnAnEmptyMap()
    {
        using var map = new SocketMap();
        map.CallLater(TimeSpan.FromSeconds(30), () => { });
        var sw = Stopwatch.StartNew();
        EventLoop.Loop(PollerKind.Default, 30.0, map, count: 5);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5)); // asyncore.loop(count=...) on an empty map returns at once
    }

    [Theory]
    [InlineData(PollerKind.IoUring, PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring, PollerKind.Select)]
    [InlineData(PollerKind.Epoll, PollerKind.IoUring)]
    [InlineData(PollerKind.Poll, PollerKind.IoUring)]
    public void AMapBoundToIoUringRefusesAnotherKindAndTheOtherWayRound(PollerKind first, PollerKind then)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        Drive.Until(map, () => acceptor.Channels.Count == 1, kind: first);
        object? backend = map.Reactor.Poller;
        var refused = Assert.Throws<InvalidOperationException>(() => EventLoop.Loop(then, 0.01, map, count: 1));
        Assert.Contains("io_uring", refused.Message);
        Assert.Contains(then == PollerKind.IoUring ? first.ToString().ToLowerInvariant() : then.ToString().ToLowerInvariant(), refused.Message);
        Assert.Same(backend, map.Reactor.Poller); // nothing was replaced

        client.Send("still\n"u8.ToArray());
        Drive.Until(map, () => client.Available >= 6, kind: first);
        Assert.Equal(6, client.Available);
        EventLoop.CloseAll(map);
    }

    [Fact]
    public void SelectPollAndEpollMayTakeTurnsOnOneMapAsCPythonsModuleMapDoes()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Echo(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        foreach (PollerKind kind in new[] { PollerKind.Select, PollerKind.Poll, PollerKind.Epoll, PollerKind.Select })
        {
            client.Send(Encoding.ASCII.GetBytes(kind + "\n"));
            var buf = new byte[32];
            Drive.Until(map, () => client.Available >= kind.ToString().Length + 1, kind: kind);
            int n = client.Receive(buf);
            Assert.Equal(kind + "\n", Encoding.ASCII.GetString(buf, 0, n));
        }

        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public async Task LoopThreadMembersCalledFromAnotherThreadWhileTheLoopRunsSaySo(PollerKind kind)
    {
        using var map = new SocketMap();
        using var cts = new CancellationTokenSource();
        Task loop = EventLoop.RunAsync(map, kind, cts.Token);
        var ready = new TaskCompletionSource<Acceptor>(TaskCreationOptions.RunContinuationsAsynchronously);
        map.Post(() => ready.SetResult(new Acceptor(map, (s, m) => new Echo(s, m))));
        Acceptor acceptor = await ready.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // Posted work runs at the start of a pass, before the pass makes its backend: once a second
        // Post has run, the pass that made the acceptor's ring (or epoll set) is over.
        var passed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        map.Post(passed.SetResult);
        await passed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var timer = Assert.Throws<InvalidOperationException>(() => map.CallLater(TimeSpan.FromSeconds(1), () => { }));
        Assert.Contains("CallLater", timer.Message);
        Assert.Contains("Post", timer.Message);
        Assert.Throws<InvalidOperationException>(() => { _ = map.BeginDrain(TimeSpan.FromSeconds(1)); });
        Assert.Throws<InvalidOperationException>(() => map.Remove(acceptor.Fileno));
        if (kind == PollerKind.IoUring)
        {
            Assert.Throws<InvalidOperationException>(() => acceptor.Close()); // the ring takes removals from its thread only
            Assert.Throws<InvalidOperationException>(() => map.Dispose());
        }

        Assert.False(loop.IsCompleted);
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        map.Post(() => map.CallLater(TimeSpan.FromMilliseconds(10), () => fired.SetResult())); // the way in from elsewhere
        await fired.Task.WaitAsync(TimeSpan.FromSeconds(10));

        using var client = Acceptor.Connect(acceptor.Address);
        client.Send("ok\n"u8.ToArray());
        var buf = new byte[3];
        Assert.Equal(3, client.Receive(buf)); // the loop serves on
        cts.Cancel();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
        EventLoop.CloseAll(map, ignoreAll: true);
    }

    private sealed class ThrowsOnMessage : RecordingChat
    {
        public ThrowsOnMessage(Socket s, SocketMap m) : base(s, m)
        {
        }

        protected override void OnMessage(string message) => throw new InvalidOperationException("first line\nsecond line");
    }

    [Fact]
    public void HandleErrorsDefaultLineIsOneLineWithTheCompactStack()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new ThrowsOnMessage(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        client.Send("x\n"u8.ToArray());
        Drive.Until(map, () => acceptor.Channels.Count == 1 && acceptor.Channels[0].Fileno < 0);
        string line = Assert.Single(((ThrowsOnMessage)acceptor.Channels[0]).Events, e => e.StartsWith("error: uncaptured exception"));
        Assert.DoesNotContain('\n', line);
        Assert.Contains("System.InvalidOperationException:first line second line [", line);
        Assert.Contains("|OnMessage|", line);
    }

    private sealed class SmtpdLike : RecordingChat
    {
        public SmtpdLike(Socket s, SocketMap m) : base(s, m) => Encoding = Encoding.UTF8;

        public override void Push(string data) => base.Push(data + "\r\n"); // smtpd.SMTPChannel.push(msg)

        protected override void OnMessage(string message) => Push("250 " + message);
    }

    [Fact]
    public void PushTakesTextInTheChannelsEncodingAndCanBeOverriddenAsSmtpdDoes()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new SmtpdLike(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        client.Send("héllo\n"u8.ToArray());
        // The line is read as Latin-1 (RecordingChat), and its text goes back in the channel's encoding, UTF-8.
        byte[] expected = Encoding.UTF8.GetBytes("250 " + Encoding.Latin1.GetString("héllo"u8) + "\r\n");
        Drive.Until(map, () => client.Available >= expected.Length);
        var buf = new byte[64];
        int n = client.Receive(buf);
        Assert.Equal(expected, buf[..n]);
        EventLoop.CloseAll(map);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public async Task WhenRunAsyncsTaskEndsTheLoopHasLeftTheMap(PollerKind kind)
    {
        // The task used to complete before the loop's thread let go of the map, so a Dispose right
        // after the await could find the loop still running elsewhere (seen once in a full CI run, on
        // io_uring, where the map's Dispose checks it). The window is a few instructions wide, so
        // this loop only catches it by chance; it states the contract the order in RunAsync keeps.
        for (int i = 0; i < 200; i++)
        {
            var map = new SocketMap();
            using var cts = new CancellationTokenSource();
            Task loop = EventLoop.RunAsync(map, kind, cts.Token);
            map.Post(cts.Cancel);
            await loop.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.False(map.Reactor.RunningElsewhere, $"the loop still ran the map after its task ended (round {i})");
            map.Dispose();
        }
    }
}
