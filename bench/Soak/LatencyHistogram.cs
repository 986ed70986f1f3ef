using System.Diagnostics;

namespace Soak;

/// <summary>
/// Latencies in 100,000 bins of <c>binMicroseconds</c> each (1 µs: up to 100 ms), one overflow bin
/// above, the maximum exact. The bins are allocated once, up front, so recording allocates nothing
/// and the soak's heap samples do not see it grow. <see cref="Add"/> is safe from any thread.
/// </summary>
sealed class LatencyHistogram(int binMicroseconds = 1)
{
    private const int Bins = 100_000;
    private static readonly double MicrosecondsPerTick = 1e6 / Stopwatch.Frequency;
    private readonly long[] _counts = new long[Bins + 1];
    private long _total;
    private long _maxTicks;

    public long Count => Interlocked.Read(ref _total);

    public double MaxMicroseconds => Interlocked.Read(ref _maxTicks) * MicrosecondsPerTick;

    /// <summary>Records one latency given in <see cref="Stopwatch"/> ticks.</summary>
    public void Add(long ticks)
    {
        ticks = Math.Max(0, ticks);
        int bin = (int)Math.Min(ticks * MicrosecondsPerTick / binMicroseconds, Bins);
        Interlocked.Increment(ref _counts[bin]);
        Interlocked.Increment(ref _total);
        RaiseTo(ref _maxTicks, ticks);
    }

    /// <summary>Sets <paramref name="target"/> to <paramref name="value"/> if that is larger, atomically.</summary>
    public static void RaiseTo(ref long target, long value)
    {
        long current = Interlocked.Read(ref target);
        while (value > current)
        {
            long seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>
    /// The latency that a fraction <paramref name="q"/> of the samples do not exceed, in µs: the upper
    /// edge of its bin (so with 1 µs bins "≤ 1000" means every such sample was under 1 ms), or the
    /// maximum when it lies beyond the last bin. NaN when empty.
    /// </summary>
    public double Percentile(double q)
    {
        long total = Count;
        if (total == 0)
        {
            return double.NaN;
        }

        long rank = Math.Max(1, (long)Math.Ceiling(q * total));
        long seen = 0;
        for (int bin = 0; bin < Bins; bin++)
        {
            seen += Interlocked.Read(ref _counts[bin]);
            if (seen >= rank)
            {
                return Math.Min((bin + 1.0) * binMicroseconds, MaxMicroseconds);
            }
        }

        return MaxMicroseconds;
    }

    /// <summary>How many samples took 1 ms or more.</summary>
    public long CountFromOneMillisecond()
    {
        long n = 0;
        for (int bin = (1000 + binMicroseconds - 1) / binMicroseconds; bin <= Bins; bin++)
        {
            n += Interlocked.Read(ref _counts[bin]);
        }

        return n;
    }
}
