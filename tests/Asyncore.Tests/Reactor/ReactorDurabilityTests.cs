using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Reactor;

/// <summary>
/// Defects a server meets only after days of traffic, each pinned by a test: channels kept alive by
/// the loop after they closed, timers that do not really cancel, deadlines that overflow, sockets
/// disposed behind a channel's back, and output memory that only grows.
/// </summary>
public class ReactorDurabilityTests
{
    /// <summary>A plain channel that asks for nothing, so passes run without events.</summary>
    private sealed class Quiet : Dispatcher
    {
        public Quiet(SocketMap map) : base(null, map) => CreateSocket();

        public bool Idled { get; private set; }

        public override bool Readable() => false;

        public override bool Writable() => false;

        protected override void HandleIdle()
        {
            Idled = true;
            Close();
        }
    }

    private static int Alive(List<WeakReference> refs)
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return refs.Count(r => r.IsAlive);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static List<WeakReference> OpenPollAndClose(SocketMap map, PollerKind kind, int n, Action<Dispatcher>? setup = null)
    {
        var channels = new List<Dispatcher>();
        for (int i = 0; i < n; i++)
        {
            var d = new Dispatcher(null, map);
            d.CreateSocket();
            setup?.Invoke(d);
            channels.Add(d);
        }

        EventLoop.Loop(kind, 0.0, map, count: 1);
        foreach (Dispatcher d in channels)
        {
            d.Close();
        }

        return channels.Select(c => new WeakReference(c)).ToList();
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void ClosedChannelsAreNotKeptAliveByTheLoop(PollerKind kind)
    {
        using var map = new SocketMap();
        using var keeper = new Quiet(map); // keeps the map non-empty, so passes run
        List<WeakReference> refs = OpenPollAndClose(map, kind, 300);
        for (int i = 0; i < 3; i++)
        {
            EventLoop.Loop(kind, 0.0, map, count: 1);
        }

        Assert.Equal(0, Alive(refs));
        Assert.Equal(1, map.Count);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void ClosedChannelsWithIdleTimeoutsLeaveNoTimerAndAreCollected(PollerKind kind)
    {
        using var map = new SocketMap();
        using var keeper = new Quiet(map);
        List<WeakReference> refs = OpenPollAndClose(map, kind, 1000, d => d.IdleTimeout = TimeSpan.FromMinutes(5));
        EventLoop.Loop(kind, 0.0, map, count: 1);
        Assert.Equal(0, map.PendingTimers);
        Assert.Equal(0, Alive(refs));
    }

    /// <summary>An AsyncChat with no socket that starts all of its timers: idle, message, soft limit.</summary>
    private sealed class TimedChat : AsyncChat
    {
        public TimedChat(SocketMap map) : base(null, map)
        {
            Connected = true;
            SetTerminator("\r\n"u8);
        }

        public byte[]? Incoming { get; set; }

        public override int Recv(Span<byte> buffer)
        {
            if (Incoming is null)
            {
                return WouldBlock;
            }

            Incoming.CopyTo(buffer);
            int n = Incoming.Length;
            Incoming = null;
            return n;
        }

        public override int Send(ReadOnlySpan<byte> data) => 0; // never takes anything

        public void Read() => HandleRead();

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static List<WeakReference> ChatsWithEveryTimer(SocketMap map, int n)
    {
        var refs = new List<WeakReference>();
        for (int i = 0; i < n; i++)
        {
            var c = new TimedChat(map)
            {
                IdleTimeout = TimeSpan.FromMinutes(5),
                MessageTimeout = TimeSpan.FromMinutes(5),
                OutputSoftLimit = 10,
                OutputSoftLimitTime = TimeSpan.FromMinutes(5),
            };
            c.Incoming = "half a message"u8.ToArray();
            c.Read();                   // the message deadline starts
            c.Push(new byte[100]);      // over the soft limit: its deadline starts
            c.Close();
            refs.Add(new WeakReference(c));
        }

        return refs;
    }

    [Fact]
    public void CloseEndsTheMessageAndSoftLimitTimersToo()
    {
        using var map = new SocketMap();
        List<WeakReference> refs = ChatsWithEveryTimer(map, 1000);
        Assert.Equal(0, map.PendingTimers);
        Assert.Equal(0, Alive(refs));
    }

    [Fact]
    public void CancelTakesATimerOffTheLoopAtOnce()
    {
        using var map = new SocketMap();
        var timers = Enumerable.Range(0, 1000).Select(_ => map.CallLater(TimeSpan.FromHours(1), () => { })).ToList();
        Assert.Equal(1000, map.PendingTimers);
        foreach (LoopTimer t in timers)
        {
            t.Cancel();
        }

        Assert.Equal(0, map.PendingTimers);
    }

    [Fact]
    public void TimersStillFireInDeadlineOrderAfterCancellationsInTheMiddle()
    {
        using var map = new SocketMap();
        using var keeper = new Quiet(map);
        var fired = new List<int>();
        var timers = new List<LoopTimer>();
        for (int i = 0; i < 200; i++)
        {
            int me = i;
            timers.Add(map.CallLater(TimeSpan.FromMilliseconds(5 + (i % 50)), () => fired.Add(me)));
        }

        // The order they must fire in, from the deadlines they got (a pause while they were set, as on a
        // busy machine, shifts later deadlines; the heap must still honour them).
        int[] expected = Enumerable.Range(0, 200).Where(i => i % 3 != 0).OrderBy(i => timers[i].Due).ThenBy(i => timers[i].Seq).ToArray();
        for (int i = 0; i < 200; i += 3)
        {
            timers[i].Cancel();
        }

        Drive.Until(map, () => map.PendingTimers == 0, seconds: 5);
        Assert.Equal(expected, fired);
    }

    [Fact]
    public void ADelayTooLongToRepresentNeverFires()
    {
        using var map = new SocketMap();
        using var keeper = new Quiet(map);
        bool fired = false;
        LoopTimer t = map.CallLater(TimeSpan.MaxValue, () => fired = true);
        for (int i = 0; i < 5; i++)
        {
            EventLoop.Loop(PollerKind.Default, 0.01, map, count: 1);
        }

        Assert.False(fired);
        Assert.False(t.Fired);
    }

    [Fact]
    public void AnIdleTimeoutOfMaxValueNeverCloses()
    {
        using var map = new SocketMap();
        var q = new Quiet(map) { IdleTimeout = TimeSpan.MaxValue };
        for (int i = 0; i < 5; i++)
        {
            EventLoop.Loop(PollerKind.Default, 0.01, map, count: 1);
        }

        Assert.False(q.Idled);
        Assert.True(q.Fileno >= 0);
        q.Close();
    }

    [Fact]
    public void ShorteningTheIdleTimeoutTakesEffectAtOnce()
    {
        using var map = new SocketMap();
        var q = new Quiet(map) { IdleTimeout = TimeSpan.FromHours(1) };
        EventLoop.Loop(PollerKind.Default, 0.0, map, count: 1);
        q.IdleTimeout = TimeSpan.FromMilliseconds(100);
        Drive.Until(map, () => q.Idled, seconds: 5);
        Assert.True(q.Idled, "the channel was not closed after the shortened idle timeout");
    }

    /// <summary>A connected channel that waits for input, and records how it ended.</summary>
    private sealed class Waiting : Dispatcher
    {
        public Waiting(Socket s, SocketMap map) : base(s, map)
        {
        }

        public int Closes { get; private set; }

        public override bool Writable() => false;

        public int Reads { get; private set; }

        protected override void HandleRead()
        {
            Reads++;
            Recv(new byte[64]);
        }

        protected internal override void HandleClose()
        {
            Closes++;
            Close();
        }
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public async Task ASocketDisposedBehindTheChannelsBackIsNoticedAndTheLoopEnds(PollerKind kind)
    {
        var (a, b) = Drive.TcpPair();
        using var peer = b;
        using var map = new SocketMap();
        var ch = new Waiting(a, map);
        // One thread runs every pass (an io_uring map is bound to the thread of its first pass).
        var done = Task.Factory.StartNew(
            () =>
            {
                EventLoop.Loop(kind, 0.0, map, count: 3); // registered and watched
                a.Dispose();                               // not through ch.Close()
                EventLoop.Loop(kind, 30.0, map);
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
        Assert.True(await Task.WhenAny(done, Task.Delay(TimeSpan.FromSeconds(10))) == done, "Loop() did not end after the channel's socket was disposed");
        await done;
        Assert.Equal(1, ch.Closes);
        Assert.Equal(0, map.Count);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void ADisposedSocketIsNoticedWhenTheLoopRunsShortPassesUnderTraffic(PollerKind kind)
    {
        var (a, b) = Drive.TcpPair();
        using var peer = b;
        var (c, d) = Drive.TcpPair();
        using var busyPeer = d;
        using var map = new SocketMap();
        var ch = new Waiting(a, map);
        var busy = new Waiting(c, map);
        EventLoop.Loop(kind, 0.0, map, count: 2);
        a.Dispose(); // not through ch.Close()

        // 10 ms passes that always have an event to dispatch: no wait ever comes back empty.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (ch.Closes == 0 && sw.Elapsed < TimeSpan.FromSeconds(5))
        {
            busyPeer.Send("x"u8);
            EventLoop.Loop(kind, 0.01, map, count: 1);
        }

        Assert.Equal(1, ch.Closes);
        Assert.Equal(0, ch.Reads);
        Assert.True(busy.Reads > 0);
        Assert.Equal(0, busy.Closes);
        busy.Close();
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void ANumberReusedOutsideTheMapNeverReachesTheOldChannelAsReadiness(PollerKind kind)
    {
        var (a, b) = Drive.TcpPair();
        using var peer = b;
        using var map = new SocketMap();
        var ch = new Waiting(a, map);
        EventLoop.Loop(kind, 0.0, map, count: 2); // registered and watched
        nint number = ch.Fileno;
        a.Dispose();                               // not through ch.Close()

        // Linux hands out the lowest free number: one of the next sockets takes the old one.
        var others = new List<Socket>();
        try
        {
            Socket? reused = null;
            for (int i = 0; i < 64 && reused is null; i++)
            {
                var u = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                others.Add(u);
                if (u.Handle == number)
                {
                    reused = u;
                }
            }

            Assert.NotNull(reused);
            reused!.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            others.Add(sender);
            sender.SendTo("x"u8, reused.LocalEndPoint!); // the socket now under the old number is readable

            Drive.Until(map, () => ch.Closes > 0, seconds: 10, kind, passTimeout: 2.0); // long enough for epoll's one-second sweep
            Assert.Equal(1, ch.Closes);
            Assert.Equal(0, ch.Reads);
            Assert.Equal(0, map.Count);
        }
        finally
        {
            others.ForEach(s => s.Dispose());
        }
    }

    /// <summary>Overrides its predicates (so it is asked on every pass) and counts the questions.</summary>
    private sealed class Asked : Dispatcher
    {
        public Asked(SocketMap map) : base(null, map) => CreateSocket();

        public int ReadableCalls { get; private set; }

        public override bool Readable()
        {
            ReadableCalls++;
            return false;
        }

        public override bool Writable() => false;
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AChannelReplacedInTheMapIsNoLongerAsked(PollerKind kind)
    {
        using var map = new SocketMap();
        var old = new Asked(map);
        EventLoop.Loop(kind, 0.0, map, count: 1);
        int before = old.ReadableCalls;
        var replacement = new Quiet(map);
        map.Add(old.Fileno, replacement); // socket_map[fd] = other: the old channel is out
        for (int i = 0; i < 3; i++)
        {
            EventLoop.Loop(kind, 0.0, map, count: 1);
        }

        Assert.Equal(before, old.ReadableCalls);
        replacement.Close();
        old.Socket!.Dispose();
    }

    /// <summary>Streams output to a socket that always takes a little less than is pushed.</summary>
    private sealed class Streamer : AsyncChat
    {
        public Streamer() : base(null, new SocketMap())
        {
            Connected = true;
            AcOutBufferSize = 65536;
        }

        public int Budget { get; set; }

        public long SentBytes { get; private set; }

        public override int Send(ReadOnlySpan<byte> data)
        {
            int n = Math.Min(Budget, data.Length);
            Budget -= n;
            SentBytes += n;
            return n;
        }

        public void Write() => HandleWrite();

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
        }
    }

    [Fact]
    public void OutputMemoryFollowsWhatIsQueuedWhenTheQueueNeverDrains()
    {
        var s = new Streamer();
        byte[] chunk = new byte[64 * 1024];
        s.Push(new byte[8 * 1024]); // the socket takes nothing yet: the queue never empties from here on
        for (int i = 0; i < 64; i++)
        {
            s.Push(chunk);
            s.Budget = chunk.Length;
            s.Write();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 4096; i++) // 256 MiB through one connection
        {
            s.Push(chunk);
            s.Budget = chunk.Length;
            while (s.Budget > 0 && s.Writable())
            {
                s.Write();
            }
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.InRange(s.OutgoingBytes, 1, 256 * 1024);
        Assert.True(allocated < 4 * 1024 * 1024, $"{allocated} bytes allocated while streaming 256 MiB with a bounded queue");
        s.Close();
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public async Task RunAsyncStopsAtOnceWhenCancelled(PollerKind kind)
    {
        using var map = new SocketMap();
        using var cts = new CancellationTokenSource();
        Task loop = EventLoop.RunAsync(map, kind, cts.Token);
        var made = new TaskCompletionSource<Quiet>();
        map.Post(() => made.SetResult(new Quiet(map))); // a channel that never has an event: the loop sleeps 30 s a pass
        Quiet quiet = await made.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(200);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        cts.Cancel();
        await loop.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"RunAsync took {sw.Elapsed} to stop");
        quiet.Close();
    }
}
