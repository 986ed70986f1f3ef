using System.Diagnostics;
using System.Net.Sockets;
using Asyncore.Reactor;
using Asyncore.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Xunit.Abstractions;

namespace Asyncore.Tests.Reactor;

/// <summary>
/// Memory handed back after a burst, over real sockets: a loop that waits without a timeout still
/// wakes to hand back once. The burst is read from the process's managed heap, so this runs alone,
/// after the parallel tests (their allocations and collections would move the heap it watches).
/// </summary>
[Collection(ProcessWide.Name)]
public class MemoryReturnSocketTests(ITestOutputHelper output)
{
    private const long MiB = 1024 * 1024;

    /// <summary>Holds 16 MiB per channel once its peer spoke, until the peer leaves.</summary>
    private sealed class Holder : Dispatcher
    {
        private byte[]? _held;

        public Holder(Socket socket, SocketMap map) : base(socket, map)
        {
        }

        public override bool Writable() => false;

        protected override void HandleRead()
        {
            byte[] buf = new byte[64];
            if (Recv(buf) == 0)
            {
                return;
            }

            _held ??= GC.AllocateArray<byte>(16 * (int)MiB);
            _held.AsSpan().Fill(1); // touched: resident
        }

        protected internal override void HandleClose()
        {
            _held = null;
            Close();
        }
    }

    [Fact]
    public void OverRealSocketsAQuietLoopHandsBackOnceEvenWithoutATimeout()
    {
        // What the tests before this one left behind is not this loop's quiet level.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var logger = new FakeLogger();
        using var map = new SocketMap { Logger = logger };
        map.MemoryReturn = new MemoryReturnOptions { GrowthBytes = 32 * MiB, QuietTime = TimeSpan.FromSeconds(1), MinimumInterval = TimeSpan.FromMinutes(5) };
        var pairs = new List<(Socket A, Socket B)>();
        try
        {
            // A quiet channel keeps the map non-empty after the burst (an empty map runs no passes).
            var (qa, qb) = Drive.TcpPair();
            pairs.Add((qa, qb));
            _ = new Holder(qb, map);
            Drive.Until(map, () => false, seconds: 1.5);

            // The burst: eight peers speak, their channels hold 128 MiB between them for 2 s.
            for (int i = 0; i < 8; i++)
            {
                var (a, b) = Drive.TcpPair();
                pairs.Add((a, b));
                _ = new Holder(b, map);
                a.Send(new byte[] { 1 });
            }

            Drive.Until(map, () =>
            {
                for (int i = 1; i < pairs.Count; i++)
                {
                    pairs[i].A.Send(new byte[] { 2 }); // busy: hundreds of events a second
                }

                return false;
            }, seconds: 2);
            IdleMemoryReturn tracker = map.Reactor.MemoryReturn;
            Assert.True(tracker.BurstPending || tracker.Returns > 0);
            for (int i = 1; i < pairs.Count; i++)
            {
                pairs[i].A.Close();
            }

            Drive.Until(map, () => map.Count == 1, seconds: 10);
            Assert.Equal(1, map.Count);

            // Quiet now: single passes with a 30 s timeout; the loop wakes by itself to hand back.
            var sw = Stopwatch.StartNew();
            while (tracker.Returns == 0 && sw.Elapsed < TimeSpan.FromSeconds(20))
            {
                EventLoop.Loop(PollerKind.Default, 30.0, map, count: 1);
            }

            Assert.Equal(1, tracker.Returns);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"handed back after {sw.Elapsed}");
            Assert.Equal(Deadline.Never, tracker.WakeDue);
            var records = logger.Collector.GetSnapshot();
            Assert.Contains(records, r => r.Level == LogLevel.Debug && r.Message.StartsWith("Memory: the managed heap grew", StringComparison.Ordinal));
            FakeLogRecord handedBack = Assert.Single(records, r => r.Level == LogLevel.Information);
            Assert.StartsWith("Memory handed back after a burst", handedBack.Message, StringComparison.Ordinal);
            output.WriteLine(handedBack.Message);
        }
        finally
        {
            foreach (var (a, b) in pairs)
            {
                a.Dispose();
                b.Dispose();
            }

            EventLoop.CloseAll(map, ignoreAll: true);
        }
    }
}
