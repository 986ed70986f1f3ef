using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Asyncore.Tests.Loops;

/// <summary>LoopGroup over loopback: one SO_REUSEPORT listener per loop on one port, connections spread by the kernel, Stop ends every thread.</summary>
public class LoopGroupTests
{
    /// <summary>Answers "ping" with "pong LOOP" and records which thread ran it.</summary>
    private sealed class Pong : AsyncChat
    {
        private readonly int _loop;
        private readonly LoopStats _stats;

        public Pong(Socket s, SocketMap m, int loop, LoopStats stats) : base(s, m)
        {
            _loop = loop;
            _stats = stats;
            SetTerminator("\n");
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
            _stats.Served[_loop]++; // only this loop's thread touches its slot
            _stats.Threads.TryAdd((_loop, Environment.CurrentManagedThreadId), 0);
            Push(Encoding.ASCII.GetBytes($"pong {_loop}\n"));
        }
    }

    private sealed class LoopStats
    {
        public LoopStats(int loops) => Served = new int[loops];

        public int[] Served { get; }

        public ConcurrentDictionary<(int Loop, int Thread), byte> Threads { get; } = new();
    }

    private sealed class Listener : Dispatcher
    {
        private readonly int _loop;
        private readonly LoopStats _stats;

        public Listener(SocketMap map, int loop, int port, LoopStats stats) : base(null, map)
        {
            _loop = loop;
            _stats = stats;
            CreateSocket();
            SetReusePort();
            Bind(new IPEndPoint(IPAddress.Loopback, port));
            Listen(512);
        }

        public int Port => ((IPEndPoint)Socket!.LocalEndPoint!).Port;

        protected override void HandleAccepted(Socket socket, EndPoint address) => _ = new Pong(socket, Map, _loop, _stats);
    }

    [Fact]
    public async Task TwoLoopsShareAPortWithReusePortAndBothServe()
    {
        var stats = new LoopStats(2);
        int port = 0;
        var loopThreads = new int[2];
        var cpus = new string[2];
        using var group = new LoopGroup(2, (map, i) =>
        {
            loopThreads[i] = Environment.CurrentManagedThreadId;
            cpus[i] = File.ReadAllLines("/proc/thread-self/status").Single(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal)).Split(':')[1].Trim();
            var listener = new Listener(map, i, port, stats);
            port = listener.Port; // loop 0 binds port 0; loop 1 then binds the port it got
        }, pinToCpus: true);
        Assert.Equal(2, group.Count);
        Assert.False(group.Running);
        group.Start();
        Assert.True(group.Running);
        Assert.NotEqual(0, port);
        Assert.NotEqual(loopThreads[0], loopThreads[1]);
        Assert.All(cpus, c => Assert.Matches("^[0-9]+$", c)); // each loop's thread pinned to one CPU
        if (Environment.ProcessorCount > 1)
        {
            Assert.NotEqual(cpus[0], cpus[1]);
        }

        const int connections = 200;
        var answers = new int[2];
        for (int c = 0; c < connections; c++)
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
            client.Connect(new IPEndPoint(IPAddress.Loopback, port));
            client.Send("ping\n"u8.ToArray());
            var buffer = new byte[16];
            int n = 0;
            while (n < 7)
            {
                int got = client.Receive(buffer, n, buffer.Length - n, SocketFlags.None);
                Assert.True(got > 0, "the server closed before answering");
                n += got;
            }

            string reply = Encoding.ASCII.GetString(buffer, 0, n);
            Assert.Matches("^pong [01]\n$", reply);
            answers[reply[5] - '0']++;
        }

        Assert.Equal(connections, answers.Sum());
        Assert.True(answers[0] > 0 && answers[1] > 0, $"one loop served everything: {answers[0]} / {answers[1]}");

        // Channels stayed on their loop's thread.
        foreach (((int loop, int thread), _) in stats.Threads)
        {
            Assert.Equal(loopThreads[loop], thread);
        }

        // Work for another loop goes through its map's Post and runs on that loop's thread.
        var ranOn = new TaskCompletionSource<int>();
        group.Maps[1].Post(() => ranOn.SetResult(Environment.CurrentManagedThreadId));
        Assert.Equal(loopThreads[1], await ranOn.Task.WaitAsync(TimeSpan.FromSeconds(10)));

        group.Stop();
        Assert.False(group.Running);
        Assert.All(group.Maps, m => Assert.Equal(0, m.Count));
        var refused = Assert.Throws<SocketException>(() =>
        {
            using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            late.Connect(new IPEndPoint(IPAddress.Loopback, port));
        });
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.Equal(connections, stats.Served.Sum()); // read after the threads ended
    }

    [Fact]
    public void WithoutReusePortTheSecondBindFails()
    {
        using var first = new SocketMap();
        var a = new Dispatcher(null, first);
        a.CreateSocket();
        a.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        a.Listen(5);
        var b = new Dispatcher(null, first);
        b.CreateSocket();
        var e = Assert.Throws<SocketException>(() => b.Bind(a.Socket!.LocalEndPoint!));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
        EventLoop.CloseAll(first);
    }

    [Fact]
    public async Task DrainEveryLoopThenStop()
    {
        var stats = new LoopStats(3);
        int port = 0;
        using var group = new LoopGroup(3, (map, i) => port = new Listener(map, i, port, stats).Port);
        group.Start();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        client.Connect(new IPEndPoint(IPAddress.Loopback, port));
        client.Send("ping\n"u8.ToArray());
        var buffer = new byte[16];
        Assert.True(client.Receive(buffer) > 0);
        Assert.True(await group.DrainAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(0, client.Receive(buffer)); // the idle connection was closed
        Assert.True(group.Running); // draining leaves the loops running
        group.Stop();
        Assert.False(group.Running);
    }

    [Fact]
    public void AFailingSetupStopsTheGroup()
    {
        using var group = new LoopGroup(3, (map, i) =>
        {
            if (i == 1)
            {
                throw new InvalidOperationException("no listener");
            }
        });
        var e = Assert.Throws<InvalidOperationException>(group.Start);
        Assert.Equal("no listener", e.InnerException!.Message);
        Assert.False(group.Running);
        Assert.Throws<InvalidOperationException>(group.Start);
    }
}
