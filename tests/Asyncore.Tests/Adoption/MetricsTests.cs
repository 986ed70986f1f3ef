using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Asyncore.Samples.Line;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Adoption;

/// <summary>The library's Meter, read with a MeterListener. Alone in its collection, so the counts are exact.</summary>
[Collection(ProcessWide.Name)]
public class MetricsTests
{
    private sealed class Throws : AsyncChat
    {
        public Throws(Socket s, SocketMap m) : base(s, m) => SetTerminator("\n"u8);

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator() => throw new InvalidOperationException("bad message");

        protected internal override void HandleError(Exception exception) => Close();
    }

    [Fact]
    public void InstrumentsCountWhatHappens()
    {
        var totals = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == AsyncoreMetrics.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => totals.AddOrUpdate(instrument.Name, value, (_, old) => old + value));
        listener.Start();

        using (var map = new SocketMap())
        {
            var server = new LineServer(new IPEndPoint(IPAddress.Loopback, 0), map);
            var client = new LineClient(server.Address, ["one", "two", "three"], map);
            for (int i = 0; i < 500 && !client.Closed; i++)
            {
                EventLoop.Loop(PollerKind.Default, 0.05, map, count: 1);
            }

            Assert.True(client.Closed);
            Assert.Equal(1, totals[AsyncoreMetrics.AcceptedConnections]);
            // Client sends "one\r\ntwo\r\nthree\r\nQUIT\r\n" (23 bytes); the server answers
            // "echo: one\r\necho: two\r\necho: three\r\nbye\r\n" (40 bytes). Both ends are counted.
            Assert.Equal(63, totals[AsyncoreMetrics.BytesSent]);
            Assert.Equal(63, totals[AsyncoreMetrics.BytesReceived]);
            Assert.Equal(8, totals[AsyncoreMetrics.MessagesFramed]); // 4 lines on each side
            EventLoop.CloseAll(map);
        }

        Assert.Equal(0, totals[AsyncoreMetrics.OpenChannels]); // every channel that opened has closed
        Assert.False(totals.ContainsKey(AsyncoreMetrics.Errors));

        using (var map = new SocketMap())
        using (var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            l.Listen();
            using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            peer.Connect(l.LocalEndPoint!);
            var bad = new Throws(l.Accept(), map);
            peer.Send("x\n"u8.ToArray());
            for (int i = 0; i < 200 && map.Count > 0; i++)
            {
                EventLoop.Loop(PollerKind.Default, 0.05, map, count: 1);
            }

            Assert.Equal(0, map.Count);
        }

        Assert.Equal(1, totals[AsyncoreMetrics.Errors]);
    }
}
