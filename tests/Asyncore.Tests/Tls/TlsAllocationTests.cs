using System.Net;
using System.Net.Sockets;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Tls;

/// <summary>
/// Steady-state records cost the loop's thread no allocation: SslStream's reads complete through the
/// transport's reusable value-task source, its pooled async state machines and the channel's pooled
/// buffers. Counted with <see cref="GC.GetAllocatedBytesForCurrentThread"/> on the loop's thread, over
/// an echo channel whose own code allocates nothing.
/// </summary>
public sealed class TlsAllocationTests
{
    [Theory]
    [InlineData(13)]
    [InlineData(4000)]
    public void EchoedRecordsAllocateNothingOnTheLoopThread(int size)
    {
        IPEndPoint at = null!;
        using var loop = new LoopThread(map => at = (IPEndPoint)new Listener(map).Socket!.LocalEndPoint!);
        using var client = TlsChannelTests.Connect(at);
        byte[] message = new byte[size];
        Exchange(client, message, 1000); // warm-up: buffers rented, code tiered
        long before = loop.OnLoop(GC.GetAllocatedBytesForCurrentThread);
        const int n = 2000;
        Exchange(client, message, n);
        long after = loop.OnLoop(GC.GetAllocatedBytesForCurrentThread);
        // The two posted reads themselves cost a little; 8 bytes a record would show any real allocation.
        Assert.True(after - before < 8 * n, $"{(after - before) / (double)n:F1} bytes allocated per echoed record of {size} bytes");
    }

    private static void Exchange(Stream client, byte[] message, int times)
    {
        byte[] back = new byte[message.Length];
        for (int i = 0; i < times; i++)
        {
            client.Write(message);
            client.Flush();
            client.ReadExactly(back);
        }
    }

    private sealed class Listener : Dispatcher
    {
        public Listener(SocketMap map) : base(null, map)
        {
            CreateSocket();
            Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Listen(4);
        }

        public override bool Writable() => false;

        protected override void HandleAccepted(Socket socket, EndPoint address) =>
            new Echo(socket, Map).StartTls(TestCertificate.Shared.ServerOptions());
    }

    private sealed class Echo(Socket socket, SocketMap map) : AsyncChat(socket, map)
    {
        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => Push(data);

        protected override void FoundTerminator()
        {
        }
    }
}
