using System.Diagnostics;
using System.Net.Sockets;
using Asyncore.Reactor;
using Asyncore.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Xunit.Abstractions;

namespace Asyncore.Tests.Reactor;

/// <summary>
/// Memory handed back after a burst (<see cref="MemoryReturnOptions"/>): the trigger on a made-up
/// clock and heap (a burst then quiet hands back once; steady state, busy loops and a disabled map
/// never do; the rate limit holds), and once over real sockets, where a loop that waits without a
/// timeout still wakes for it (MemoryReturnSocketTests).
/// </summary>
public class MemoryReturnTests
{
    private const long MiB = 1024 * 1024;
    private static readonly long Second = Stopwatch.Frequency;

    /// <summary>A hand-back driven by hand: one pass per call, at a clock and heap the test sets.</summary>
    private sealed class Rig
    {
        public readonly MemoryReturnOptions Options = new() { GrowthBytes = 32 * MiB, QuietTime = TimeSpan.FromSeconds(5), MinimumInterval = TimeSpan.FromSeconds(30) };
        public readonly IdleMemoryReturn Return;
        public long Now = 1000 * Stopwatch.Frequency;
        public long Heap = 10 * MiB;
        public int Channels = 1;
        public int Trims;
        public int Collections;
        public bool Refuse;

        public Rig()
        {
            Return = new IdleMemoryReturn(() => Options, () => Heap, () => Trims++, () => null)
            {
                Collect = (_, _) =>
                {
                    if (Refuse)
                    {
                        return false;
                    }

                    Collections++;
                    Heap = 12 * MiB;
                    return true;
                },
            };
        }

        /// <summary><paramref name="seconds"/> of passes, one every 200 ms, each with <paramref name="eventsPerPass"/> events.</summary>
        public void Run(double seconds, int eventsPerPass, long? heap = null)
        {
            for (int i = 0; i < (int)(seconds * 5); i++)
            {
                if (heap is { } h)
                {
                    Heap = h;
                }

                Now += Second / 5;
                Return.AfterPass(Now, eventsPerPass, Channels);
            }
        }
    }

    [Fact]
    public void AfterABurstThenQuietTheLoopHandsMemoryBackOnce()
    {
        var rig = new Rig();
        rig.Run(3, 0);                          // quiet at 10 MiB
        rig.Run(10, 1000, heap: 200 * MiB);     // a burst: 5,000 events a second, the heap at 200 MiB
        Assert.True(rig.Return.BurstPending);
        Assert.Equal(0, rig.Return.Returns);    // never while busy

        rig.Run(4, 1, heap: 180 * MiB);         // quiet, but not for 5 s yet
        Assert.Equal(0, rig.Return.Returns);
        rig.Run(2, 1);
        Assert.Equal(1, rig.Return.Returns);
        Assert.Equal(1, rig.Trims);
        Assert.Equal(1, rig.Collections);
        Assert.False(rig.Return.BurstPending);
        Assert.True(rig.Return.WakeDue <= rig.Now + Second); // no burst waits: at most the next tick, after a second with events

        rig.Run(120, 1);                        // idle afterwards: nothing more
        Assert.Equal(1, rig.Return.Returns);
        Assert.Equal(1, rig.Collections);
    }

    [Fact]
    public void SteadyStateNeverHandsBack()
    {
        var rig = new Rig();
        for (int minute = 0; minute < 5; minute++)
        {
            rig.Run(30, 2000, heap: 40 * MiB);  // busy, the heap sawing below the growth mark
            rig.Run(30, 2000, heap: 20 * MiB);
        }

        rig.Run(60, 0, heap: 20 * MiB);         // then quiet at the same level
        Assert.Equal(0, rig.Return.Returns);
        Assert.Equal(0, rig.Trims);
        Assert.False(rig.Return.BurstPending);
        Assert.Equal(Deadline.Never, rig.Return.WakeDue);
    }

    [Fact]
    public void ChannelsOfABurstLeavingAfterAnEarlierHandBackHandMemoryBackAgain()
    {
        // A flood whose clients stop reading: the loop stops reading them too and goes quiet while
        // they still hold their output, hands back once, and again once they have left.
        var rig = new Rig();
        rig.Run(2, 0);
        rig.Channels = 201;
        rig.Run(3, 2000, heap: 200 * MiB);
        rig.Run(10, 0, heap: 200 * MiB);
        Assert.Equal(1, rig.Return.Returns);
        rig.Channels = 1;                       // they leave: what they held is garbage now
        rig.Run(1, 100, heap: 200 * MiB);
        rig.Run(10, 0);
        Assert.Equal(1, rig.Return.Returns);    // within 30 s of the first
        rig.Run(15, 0);
        Assert.Equal(2, rig.Return.Returns);
        rig.Run(120, 0);
        Assert.Equal(2, rig.Return.Returns);
    }

    [Fact]
    public void TheLastPassOfABurstIsLookedAtEvenWhenTheLoopThenSleepsWithoutATimeout()
    {
        var rig = new Rig();
        rig.Run(2, 0);
        rig.Channels = 201;
        rig.Run(3, 2000, heap: 200 * MiB);
        rig.Run(10, 0);
        Assert.Equal(1, rig.Return.Returns);    // handed back while the channels were still here
        Assert.Equal(Deadline.Never, rig.Return.WakeDue);

        // One pass in which the channels leave, then the loop sleeps until it is told to wake.
        long left = rig.Now += Second / 10;     // between two ticks
        rig.Channels = 1;
        rig.Return.AfterPass(rig.Now, 200, rig.Channels);
        for (int wakes = 0; rig.Return.Returns < 2 && wakes < 10; wakes++)
        {
            Assert.NotEqual(Deadline.Never, rig.Return.WakeDue); // without it an idle loop would sleep forever
            rig.Now = Math.Max(rig.Now, rig.Return.WakeDue);
            rig.Return.AfterPass(rig.Now, 0, rig.Channels);
        }

        Assert.Equal(2, rig.Return.Returns);
        Assert.True(rig.Now - left <= 31 * Second);
        Assert.Equal(Deadline.Never, rig.Return.WakeDue);
    }

    [Fact]
    public void ACollectionRefusedBecauseAnotherLoopJustRanOneIsTriedAgain()
    {
        var rig = new Rig();
        rig.Run(2, 0);
        rig.Run(2, 1000, heap: 100 * MiB);
        rig.Refuse = true;                      // another loop of the process collected moments ago
        rig.Run(8, 0);
        Assert.Equal(0, rig.Return.Returns);
        Assert.True(rig.Return.BurstPending);
        Assert.True(rig.Return.WakeDue <= rig.Now + Second);
        rig.Refuse = false;
        rig.Run(1.2, 0);
        Assert.Equal(1, rig.Return.Returns);
        Assert.Equal(1, rig.Collections);
    }

    [Fact]
    public void AnIdleLoopIsNeverWoken()
    {
        var rig = new Rig();
        rig.Run(3, 100);                        // some activity, no burst
        rig.Run(1, 0);                          // one quiet tick after it
        Assert.Equal(Deadline.Never, rig.Return.WakeDue);
        rig.Run(60, 0);
        Assert.Equal(Deadline.Never, rig.Return.WakeDue);
    }

    [Fact]
    public void ChurnInSteadyStateIsNoBurst()
    {
        var rig = new Rig();
        rig.Channels = 200;
        for (int i = 0; i < 60; i++)
        {
            rig.Channels = 170 + (i * 37 % 60);
            rig.Run(1, i % 3 == 0 ? 0 : 500, heap: 20 * MiB);
        }

        rig.Run(30, 0);
        Assert.Equal(0, rig.Return.Returns);
    }

    [Fact]
    public void ABusyLoopKeepsItsMemoryUntilItGoesQuiet()
    {
        var rig = new Rig();
        rig.Run(2, 0);
        rig.Run(120, 500, heap: 300 * MiB);     // a long busy stretch above the mark
        Assert.Equal(0, rig.Return.Returns);
        rig.Run(6, 10);                         // 50 events a second: quiet (the default mark is 64)
        Assert.Equal(1, rig.Return.Returns);
    }

    [Fact]
    public void HandBacksAreRateLimited()
    {
        var rig = new Rig();
        rig.Run(2, 0);
        rig.Run(2, 1000, heap: 100 * MiB);
        rig.Run(6, 0);
        Assert.Equal(1, rig.Return.Returns);
        long first = rig.Now;

        rig.Run(2, 1000, heap: 100 * MiB);      // a second burst soon after
        rig.Run(6, 0);
        Assert.Equal(1, rig.Return.Returns);    // quiet again, but within 30 s of the first
        Assert.True(rig.Return.BurstPending);
        Assert.InRange(rig.Return.WakeDue, first + 29 * Second, first + 30 * Second);
        rig.Run(20, 0);
        Assert.Equal(1, rig.Return.Returns);
        rig.Run(5, 0);
        Assert.Equal(2, rig.Return.Returns);
    }

    [Fact]
    public void WhileABurstWaitsTheLoopIsToldWhenToWake()
    {
        var rig = new Rig();
        rig.Run(2, 0);
        Assert.Equal(Deadline.Never, rig.Return.WakeDue); // nothing pending: an idle loop sleeps undisturbed
        rig.Run(2, 1000, heap: 100 * MiB);
        rig.Run(1, 0);                          // one quiet second: a tick counted the last busy passes
        Assert.InRange(rig.Return.WakeDue, rig.Now + 4 * Second, rig.Now + 5 * Second);

        // The loop slept until then (one long pass): it hands back at its end.
        rig.Now = rig.Return.WakeDue;
        rig.Return.AfterPass(rig.Now, 0, rig.Channels);
        Assert.Equal(1, rig.Return.Returns);
    }

    [Fact]
    public void ADisabledMapNeverHandsBackAndOwnBuffersOnlySkipsTheCollection()
    {
        var off = new Rig();
        off.Options.Enabled = false;
        off.Run(2, 0);
        off.Run(5, 1000, heap: 500 * MiB);
        off.Run(30, 0);
        Assert.Equal(0, off.Return.Returns);
        Assert.Equal(Deadline.Never, off.Return.WakeDue);

        var own = new Rig();
        own.Options.Collection = MemoryReturnCollection.None;
        own.Run(2, 0);
        own.Run(5, 1000, heap: 500 * MiB);
        own.Run(30, 0);
        Assert.Equal(1, own.Return.Returns);
        Assert.Equal(1, own.Trims);
        Assert.Equal(0, own.Collections);
    }

    [Fact]
    public void OptionsRefuseValuesOutOfRange()
    {
        var o = new MemoryReturnOptions();
        Assert.Throws<ArgumentOutOfRangeException>(() => o.GrowthBytes = 1000);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.QuietTime = TimeSpan.FromMilliseconds(10));
        Assert.Throws<ArgumentOutOfRangeException>(() => o.QuietEventsPerSecond = -1);
        Assert.Throws<ArgumentOutOfRangeException>(() => o.MinimumInterval = TimeSpan.FromSeconds(-1));
        Assert.Throws<ArgumentNullException>(() => new SocketMap().MemoryReturn = null!);
        Assert.True(new SocketMap().MemoryReturn.Enabled);
    }
}
