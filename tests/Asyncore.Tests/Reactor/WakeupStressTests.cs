using System.Diagnostics;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Reactor;

/// <summary>
/// Post from several threads while the loop goes to sleep and wakes, over and over: a wake-up lost
/// between the loop's drain of the wake-up pair and the clearing of its flag would leave every later
/// post waiting for the whole poll timeout (30 s under RunAsync).
/// </summary>
public class WakeupStressTests
{
    private const int Threads = 3;
    private const int PostsPerThread = 350_000; // a little over a million per backend

    private sealed class Counter
    {
        public long Done;
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public async Task MillionsOfPostsFromSeveralThreadsNeverWaitForTheTimeout(PollerKind kind)
    {
        using var map = new SocketMap();
        using var cts = new CancellationTokenSource();
        Task loop = EventLoop.RunAsync(map, kind, cts.Token);
        var worst = new TimeSpan[Threads];
        long[] posted = new long[Threads];
        var counters = new Counter[Threads];
        var posters = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            int me = t;
            var counter = counters[me] = new Counter();
            Action work = () => counter.Done++; // runs on the loop's thread only
            posters[t] = new Thread(() =>
            {
                var rnd = new Random(1234 + me);
                long sent = 0;
                while (sent < PostsPerThread)
                {
                    int burst = rnd.Next(1, 9);
                    for (int i = 0; i < burst; i++)
                    {
                        map.Post(work);
                    }

                    sent += burst;
                    if (rnd.Next(4) == 0)
                    {
                        // Let the loop catch up and go back to sleep: the next post must wake it.
                        var sw = Stopwatch.StartNew();
                        while (Volatile.Read(ref counter.Done) < sent && sw.Elapsed < TimeSpan.FromSeconds(20))
                        {
                            Thread.Yield();
                        }

                        if (sw.Elapsed > worst[me])
                        {
                            worst[me] = sw.Elapsed;
                        }

                        if (Volatile.Read(ref counter.Done) < sent)
                        {
                            break; // stuck: reported below
                        }
                    }
                }

                posted[me] = sent;
            })
            { IsBackground = true };
            posters[t].Start();
        }

        foreach (Thread p in posters)
        {
            Assert.True(p.Join(TimeSpan.FromMinutes(2)), "a poster did not finish");
        }

        var drain = Stopwatch.StartNew();
        while (counters.Zip(posted).Any(c => Volatile.Read(ref c.First.Done) < c.Second) && drain.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(1);
        }

        cts.Cancel();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.All(posted, p => Assert.True(p >= PostsPerThread, $"a poster stopped early at {p}: the loop stopped waking up"));
        for (int t = 0; t < Threads; t++)
        {
            Assert.Equal(posted[t], counters[t].Done);
        }

        // The loop waits up to 30 s when nobody wakes it; a round trip that is served takes far less.
        Assert.True(worst.Max() < TimeSpan.FromSeconds(5), $"the slowest post waited {worst.Max()}");
    }

    [Fact]
    public void AWakeUpWhoseByteCannotBeWrittenLeavesTheFlagClearForTheNext()
    {
        using var map = new SocketMap();
        EventLoop.PollOnce(map, PollerKind.Default, 0, evenIfEmpty: true); // the pass makes the wake-up pair
        global::Asyncore.Reactor.Waker waker = map.Reactor.WakerForTests!;
        waker.WriteEnd.Shutdown(System.Net.Sockets.SocketShutdown.Send); // every write now fails (EPIPE)
        map.Post(() => { });
        map.Post(() => { });
        Assert.False(waker.Signalled); // a set flag would stop every later Post from writing
        Assert.Equal(2, waker.WakeFailures); // and the second post tried again
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void APostRacingTheFirstPassWakesIt(PollerKind kind)
    {
        // The first pass publishes its wake-up pair and then reads the posted queue; a post from
        // another thread enqueues and then reads the pair. Whatever the interleaving, one of them
        // sees the other, so a first pass that may wait forever returns.
        for (int round = 0; round < 300; round++)
        {
            using var map = new SocketMap();
            bool ran = false;
            using var go = new Barrier(2);
            var poster = new Thread(() =>
            {
                go.SignalAndWait();
                map.Post(() => ran = true);
            });
            poster.Start();
            go.SignalAndWait();
            var sw = Stopwatch.StartNew();
            while (!ran && sw.Elapsed < TimeSpan.FromSeconds(10))
            {
                EventLoop.PollOnce(map, global::Asyncore.Polling.PollerFactory.Resolve(kind), 10.0, evenIfEmpty: true);
            }

            poster.Join();
            Assert.True(ran);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"round {round}: the post waited {sw.Elapsed.TotalSeconds:0.0} s for the pass's timeout");
        }
    }
}
