using System.Globalization;
using Asyncore;

namespace Soak;

/// <summary>One 10-second sample of the server process; one TSV line.</summary>
/// <remarks>
/// post_max_us is the longest Post wait since the previous sample, warm-up and the sampler's own
/// collection included (the summary's percentiles leave both out). The GC columns are cumulative since the process started (the sampler's own collections
/// included): gen 0/1/2 collection counts and the total time the runtime was paused for them.
/// </remarks>
readonly record struct Sample(double Seconds, long Accepted, long Open, int Timers, long HeapBeforeGc, long Heap, long Rss, int Descriptors, long PostsRun, double PostMaxMicroseconds, int Gen0, int Gen1, int Gen2, double GcPauseMs)
{
    public const string Header = "t_s\taccepted\topen\ttimers\theap_before_gc\theap_live\trss\tfds\tposts_run\tpost_max_us\tgc0\tgc1\tgc2\tgc_pause_ms";

    /// <summary>
    /// Reads everything from the sampler's thread while the loop runs. The counters are written with
    /// interlocked operations; <see cref="SocketMap.PendingTimers"/> is a plain read of a count the
    /// loop changes, good enough for a trend.
    /// </summary>
    public static Sample Take(double seconds, ServerCounters counters, SocketMap map, PostProbe probe, PostProbe? control = null)
    {
        probe.BeginPause();
        control?.BeginPause();
        (long before, long live) = ProcessProbe.ManagedHeap();
        probe.EndPause();
        control?.EndPause();
        return new Sample(
            seconds,
            Interlocked.Read(ref counters.Accepted),
            Interlocked.Read(ref counters.Open),
            map.PendingTimers,
            before,
            live,
            ProcessProbe.ResidentBytes(),
            ProcessProbe.OpenDescriptors(),
            probe.Ran,
            probe.TakeWindowMaxMicroseconds(),
            GC.CollectionCount(0),
            GC.CollectionCount(1),
            GC.CollectionCount(2),
            GC.GetTotalPauseDuration().TotalMilliseconds);
    }

    public string ToTsv() => string.Join('\t',
        Seconds.ToString("F1", CultureInfo.InvariantCulture),
        Accepted, Open, Timers, HeapBeforeGc, Heap, Rss, Descriptors, PostsRun,
        PostMaxMicroseconds.ToString("F0", CultureInfo.InvariantCulture),
        Gen0, Gen1, Gen2,
        GcPauseMs.ToString("F1", CultureInfo.InvariantCulture));
}
