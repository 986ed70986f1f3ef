using System.Net;
using System.Net.Sockets;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>Maps larger than select(2)'s FD_SETSIZE work on every backend.</summary>
public class ScaleTests
{
    private sealed class Idle : Dispatcher
    {
        public Idle(Socket s, SocketMap m) : base(s, m)
        {
        }

        public bool Touched { get; private set; }

        public override bool Writable() => false;

        protected override void HandleRead() => Touched = true;
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void OnePassOver1500ChannelsDispatchesOnlyTheReadyOne(PollerKind kind)
    {
        using var map = new SocketMap();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(2048);
        var channels = new List<Idle>();
        var clients = new List<Socket>();
        try
        {
            for (int i = 0; i < 750; i++)
            {
                var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                c.Connect(listener.LocalEndPoint!);
                clients.Add(c);
                channels.Add(new Idle(listener.Accept(), map));
                channels.Add(new Idle(c, map));
            }

            clients[123].Send(new byte[] { 42 });
            for (int pass = 0; pass < 20 && !channels[246].Touched; pass++)
            {
                EventLoop.Poll(kind, 0.05, map);
            }

            Assert.True(channels[246].Touched);
            Assert.Equal(1, channels.Count(c => c.Touched));
        }
        finally
        {
            EventLoop.CloseAll(map, ignoreAll: true);
        }
    }
}
