using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Robustness;

public class FaultTests
{
    private static void Run(SocketMap map, Func<bool> until, double seconds = 20, PollerKind kind = PollerKind.Default) =>
        Drive.Until(map, until, seconds, kind);

    private sealed class BigAnswer : RecordingChat
    {
        public BigAnswer(Socket s, SocketMap m) : base(s, m)
        {
        }

        protected override void OnMessage(string message) => Push(new byte[int.Parse(message)].Select((_, i) => (byte)('a' + (i % 26))).ToArray());
    }

    [Theory]
    [InlineData(PollerKind.Select)]
    [InlineData(PollerKind.Poll)]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring)]
    public void APeerResetMidWriteClosesTheChannelOnceAndNothingElse(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new BigAnswer(s, m));
        var resetter = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        using var bystander = Acceptor.Connect(acceptor.Address);
        resetter.Send("20000000\n"u8.ToArray()); // 20 MB answer, far more than the socket buffers hold
        Run(map, () => acceptor.Channels.Count == 2 && ((BigAnswer)acceptor.Channels.First()).OutgoingBytes > 0, kind: kind);
        resetter.LingerState = new LingerOption(true, 0);
        resetter.Close(); // RST
        Run(map, () => acceptor.Channels.Count(c => c.Fileno < 0) == 1, kind: kind);

        var victim = (BigAnswer)acceptor.Channels.Single(c => c.Fileno < 0);
        Assert.Equal(1, victim.CloseCalls);
        Assert.False(victim.AfterClose);
        Assert.DoesNotContain(victim.Events, e => e.StartsWith("error"));

        bystander.Send("5\n"u8.ToArray()); // the loop and the other channel carry on
        var buf = new byte[5];
        Run(map, () => bystander.Available >= 5, kind: kind);
        Assert.Equal(5, bystander.Receive(buf));
        Assert.Equal("abcde", Encoding.ASCII.GetString(buf));
        EventLoop.CloseAll(map);
    }

    [Fact]
    public void AHalfCloseWithOutputQueuedSendsItAllThenCloses()
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new BigAnswer(s, m));
        using var client = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        client.Send("3000000\n"u8.ToArray());
        client.Shutdown(SocketShutdown.Send); // EOF right after the request, before reading a byte
        long got = 0;
        var reader = new Thread(() =>
        {
            var b = new byte[65536];
            int n;
            while ((n = client.Receive(b)) > 0)
            {
                got += n;
            }
        });
        Run(map, () => acceptor.Channels.Count == 1 && ((BigAnswer)acceptor.Channels[0]).Messages.Count == 1);
        reader.Start();
        Run(map, () => acceptor.Channels[0].Fileno < 0);
        Assert.True(reader.Join(TimeSpan.FromSeconds(20)));
        Assert.Equal(3_000_000, got);
        Assert.Equal(1, ((BigAnswer)acceptor.Channels[0]).CloseCalls);
    }

    private sealed class Thrower : RecordingChat
    {
        private readonly string _where;

        public Thrower(Socket s, SocketMap m, string where) : base(s, m) => _where = where;

        protected override void OnMessage(string message)
        {
            if (_where == "found")
            {
                throw new InvalidOperationException("found");
            }

            Push(Encoding.ASCII.GetBytes($"ok {message}\n"));
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
            if (_where == "collect")
            {
                throw new InvalidOperationException("collect");
            }

            base.CollectIncomingData(data);
        }

        public override bool Writable() => _where == "writable" && Messages.Count > 0 ? throw new InvalidOperationException("writable") : base.Writable();

        protected override void HandleWrite()
        {
            if (_where == "write")
            {
                throw new InvalidOperationException("write");
            }

            base.HandleWrite();
        }
    }

    [Theory]
    [InlineData("collect")]
    [InlineData("found")]
    [InlineData("writable")]
    [InlineData("write")]
    public void AThrowingCallbackClosesOnlyItsOwnChannel(string where)
    {
        using var map = new SocketMap();
        int n = 0;
        var acceptor = new Acceptor(map, (s, m) => new Thrower(s, m, n++ == 0 ? where : "nowhere"));
        using var bad = Acceptor.Connect(acceptor.Address, receiveBuffer: 4096);
        Run(map, () => acceptor.Channels.Count == 1);
        using var good = Acceptor.Connect(acceptor.Address);
        Run(map, () => acceptor.Channels.Count == 2);
        var badChat = (Thrower)acceptor.Channels[0];
        if (where == "write")
        {
            badChat.Push(new byte[10_000_000]); // more than the socket takes: HandleWrite must run
        }

        bad.Send("hello\n"u8.ToArray());
        good.Send("hello\n"u8.ToArray());
        Run(map, () => badChat.Fileno < 0 && good.Available >= 9);
        Assert.True(badChat.Fileno < 0);
        Assert.Contains(badChat.Events, e => e == "error InvalidOperationException");
        Assert.Equal(1, badChat.CloseCalls);
        var buf = new byte[9];
        Assert.Equal(9, good.Receive(buf));
        Assert.Equal("ok hello\n", Encoding.ASCII.GetString(buf));
        EventLoop.CloseAll(map);
    }
}

/// <summary>Descriptor reuse within one pass: only deterministic with no other test opening sockets.</summary>
[Collection(ProcessWide.Name)]
public class DescriptorReuseTests
{
    private static void Run(SocketMap map, Func<bool> until, PollerKind kind) => Drive.Until(map, until, kind: kind);

    /// <summary>Closes itself in its read callback and, in the same callback, makes a new socket, which takes the freed descriptor number.</summary>
    private sealed class Reuser : Dispatcher
    {
        public Reuser(Socket s, SocketMap m) : base(s, m)
        {
        }

        public Spy? Replacement { get; private set; }

        protected override void HandleRead()
        {
            nint fd = Fileno;
            Close();
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            Replacement = new Spy(socket, Map) { ReusedNumber = socket.Handle == fd };
        }

        protected override void HandleWrite()
        {
        }
    }

    private sealed class Spy : Dispatcher
    {
        public Spy(Socket s, SocketMap m) : base(s, m)
        {
        }

        public bool ReusedNumber { get; init; }

        public List<string> Calls { get; } = new();

        protected internal override void HandleReadEvent() => Calls.Add("read");

        protected internal override void HandleWriteEvent() => Calls.Add("write");

        protected internal override void HandleExptEvent() => Calls.Add("expt");

        protected internal override void HandleClose() => Calls.Add("close");
    }

    /// <summary>With select semantics a channel is readable and writable in one pass; if the read closes it and the number is reused at once, the write of that pass must not reach the newcomer.</summary>
    [Theory]
    [InlineData(PollerKind.Select)]
    [InlineData(PollerKind.Poll)]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring)]
    public void NoEventOfAPassReachesAChannelThatReusedAClosedDescriptor(PollerKind kind)
    {
        using var map = new SocketMap();
        var acceptor = new Acceptor(map, (s, m) => new Reuser(s, m));
        using var client = Acceptor.Connect(acceptor.Address);
        Run(map, () => acceptor.Channels.Count == 1, kind: kind);
        client.Send("x"u8.ToArray());
        Thread.Sleep(50);
        var reuser = (Reuser)acceptor.Channels[0];
        EventLoop.Poll(kind, 1.0, map); // the one pass: read (closes, replaces), then write
        Assert.NotNull(reuser.Replacement);
        Assert.True(reuser.Replacement!.ReusedNumber, "the test needs the number reused");
        Assert.Empty(reuser.Replacement.Calls);
        EventLoop.CloseAll(map);
    }
}

/// <summary>Descriptor accounting needs the process to itself.</summary>
[Collection(ProcessWide.Name)]
public class DescriptorTests
{
    [Fact]
    public void NoDescriptorIsLeftBehind()
    {
        // Earlier tests' unreachable sockets close in their finalizers: settle that first.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        int before = Native.OpenNetworkDescriptors();
        using (var map = new SocketMap())
        {
            var acceptor = new Acceptor(map, (s, m) => new RecordingChat(s, m) { IdleTimeout = TimeSpan.FromMilliseconds(200) });
            var clients = new List<Socket>();
            for (int i = 0; i < 50; i++)
            {
                Socket c = Acceptor.Connect(acceptor.Address);
                c.Send("hi\n"u8.ToArray());
                if (i % 3 == 0)
                {
                    c.LingerState = new LingerOption(true, 0);
                    c.Close(); // reset
                }
                else if (i % 3 == 1)
                {
                    c.Shutdown(SocketShutdown.Send); // half-close
                }

                clients.Add(c);
            }

            var sw = Stopwatch.StartNew();
            while ((acceptor.Channels.Count < 50 || acceptor.Channels.Any(c => c.Fileno >= 0)) && sw.Elapsed < TimeSpan.FromSeconds(10))
            {
                EventLoop.Loop(PollerKind.Default, 0.02, map, count: 1); // idle ones are reaped after 200 ms
            }

            Assert.All(acceptor.Channels, c => Assert.True(c.Fileno < 0));
            foreach (Socket c in clients)
            {
                c.Dispose();
            }

            EventLoop.CloseAll(map);
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(before, Native.OpenNetworkDescriptors());
    }
}
