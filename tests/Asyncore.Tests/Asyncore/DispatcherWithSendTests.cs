using System.Net;
using System.Net.Sockets;

namespace Asyncore.Tests.Asyncore;

/// <summary>Twins of CPython 3.11 test_asyncore.DispatcherWithSendTests.</summary>
public class DispatcherWithSendTests
{
    private sealed class NoRead : DispatcherWithSend
    {
        public NoRead(SocketMap map) : base(null, map)
        {
        }

        public override bool Readable() => false;

        protected override void HandleConnect()
        {
        }
    }

    /// <summary>test_send: two sends and a newline reach a capturing server in order.</summary>
    [Fact]
    public void test_send()
    {
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen();
        var captured = new MemoryStream();
        var capture = new Thread(() =>
        {
            using Socket conn = server.Accept();
            conn.ReceiveTimeout = 3000;
            var buf = new byte[10];
            int n = 200;
            while (n-- > 0)
            {
                int got = conn.Receive(buf);
                if (got == 0)
                {
                    break;
                }

                bool newline = Array.IndexOf(buf, (byte)'\n', 0, got) >= 0;
                foreach (byte b in buf.AsSpan(0, got))
                {
                    if (b != '\n')
                    {
                        captured.WriteByte(b);
                    }
                }

                if (newline)
                {
                    break;
                }
            }
        });
        capture.Start();

        var map = new SocketMap();
        byte[] data = "Suppose there isn't a 16-ton weight?"u8.ToArray();
        var d = new NoRead(map);
        d.CreateSocket();
        d.Connect(server.LocalEndPoint!);
        Thread.Sleep(100);
        d.Send(data);
        d.Send(data);
        d.Send("\n"u8);
        for (int n = 1000; d.OutBuffer.Length > 0 && n > 0; n--)
        {
            EventLoop.Poll(0.01, map);
        }

        Assert.True(capture.Join(TimeSpan.FromSeconds(5)));
        Assert.Equal(data.Concat(data).ToArray(), captured.ToArray());
        EventLoop.CloseAll(map);
    }
}
