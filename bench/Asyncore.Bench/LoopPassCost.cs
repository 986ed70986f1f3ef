using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;

namespace Asyncore.Bench;

/// <summary>
/// The cost of one loop pass with N idle connections and one active one, per backend. Idle
/// channels are both ends of real loopback TCP connections (N/2 connections, N channels, all in
/// the map); the active channel always has unread data, so every pass dispatches one read.
/// select and poll(2) hand the kernel all N descriptors every pass; epoll only changed masks.
/// </summary>
[MemoryDiagnoser]
public class LoopPassCost
{
    private SocketMap _map = new();
    private readonly List<Socket> _keep = new();
    private Active? _active;

    [Params(1_000, 10_000)]
    public int Idle { get; set; }

    [Params(PollerKind.Select, PollerKind.Poll, PollerKind.Epoll)]
    public PollerKind Backend { get; set; }

    private sealed class IdleChannel : Dispatcher
    {
        public IdleChannel(Socket s, SocketMap map) : base(s, map)
        {
        }

        public override bool Writable() => false;
    }

    private sealed class Active : Dispatcher
    {
        public Active(Socket s, SocketMap map) : base(s, map)
        {
        }

        public long Reads;

        public override bool Writable() => false;

        // Leaves the data unread, so the channel stays readable (level-triggered) on every pass.
        protected override void HandleRead() => Reads++;
    }

    private static (Socket A, Socket B) Pair(Socket listener)
    {
        var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        a.Connect(listener.LocalEndPoint!);
        Socket b = listener.Accept();
        return (a, b);
    }

    [GlobalSetup]
    public void Setup()
    {
        _map = new SocketMap();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(4096);
        for (int i = 0; i < Idle / 2; i++)
        {
            var (a, b) = Pair(listener);
            _ = new IdleChannel(a, _map);
            _ = new IdleChannel(b, _map);
        }

        var (x, y) = Pair(listener);
        _keep.Add(x);
        x.Send(new byte[] { 1 });
        _active = new Active(y, _map);
        for (int i = 0; i < 50; i++)
        {
            EventLoop.Poll(Backend, 0, _map); // let epoll's set settle
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        EventLoop.CloseAll(_map, ignoreAll: true);
        _map.Dispose();
        foreach (Socket s in _keep)
        {
            s.Dispose();
        }
    }

    [Benchmark]
    public long OnePass()
    {
        EventLoop.Poll(Backend, 0, _map);
        return _active!.Reads;
    }
}
