using System.Diagnostics;
using System.Runtime;
using Microsoft.Extensions.Logging;

namespace Asyncore.Reactor;

/// <summary>
/// A loop's memory hand-back after a burst (<see cref="MemoryReturnOptions"/>), owned by its
/// <see cref="ReactorCore"/>. Each pass adds its event count and compares the clock with the next
/// tick; once a second a tick reads the managed heap's size (<see cref="GC.GetTotalMemory(bool)"/>,
/// which allocates nothing) and the event rate. A burst is a heap that grew
/// <see cref="MemoryReturnOptions.GrowthBytes"/> past its quiet level; once the loop has been quiet
/// for <see cref="MemoryReturnOptions.QuietTime"/> after it, the loop trims its own buffers and asks
/// the runtime for a compacting collection, once. While a burst waits to be handed back, the loop's
/// wait is cut to the moment it may be (<see cref="WakeDue"/>), and after a second with events to
/// the next tick, so a loop that sleeps without a timeout still sees a burst's last pass and hands
/// memory back; a loop that stays idle is never woken.
/// </summary>
internal sealed class IdleMemoryReturn
{
    private static readonly long TickTicks = Stopwatch.Frequency;

    /// <summary>When the last collection asked for by any loop of the process ran (Stopwatch ticks; 0: never).</summary>
    private static long s_lastCollection;

    private readonly Func<MemoryReturnOptions> _options;
    private readonly Func<long> _heap;
    private readonly Action _trim;
    private readonly Func<ILogger?> _logger;

    private long _nextTick = long.MinValue;
    private long _tickStart;
    private long _events;
    private long _quietHeap = -1;
    private long _peakHeap;
    private long _lastBusy;
    private long _lastReturn = long.MinValue;
    private bool _burst;
    private bool _enabled;
    private int _channels;
    private int _peakChannels;

    /// <summary>How many channels must leave (and at least half of those the loop had) for their leaving to count as a burst's end.</summary>
    internal const int ChannelDrop = 64;

    /// <param name="options">The map's options, read at each tick.</param>
    /// <param name="heap">The managed heap's size now (tests give their own).</param>
    /// <param name="trim">Trims the loop's own buffers (on the loop's thread).</param>
    /// <param name="logger">Where hand-backs are logged, or null.</param>
    internal IdleMemoryReturn(Func<MemoryReturnOptions> options, Func<long> heap, Action trim, Func<ILogger?> logger)
    {
        _options = options;
        _heap = heap;
        _trim = trim;
        _logger = logger;
    }

    /// <summary>Asks the runtime for a collection unless one ran within the interval; whether it ran (tests count instead).</summary>
    internal Func<MemoryReturnCollection, TimeSpan, bool> Collect { get; set; } = CollectForTheProcess;

    /// <summary>How many times this loop handed memory back.</summary>
    internal int Returns { get; private set; }

    /// <summary>Whether a burst was seen and waits for the loop to go quiet.</summary>
    internal bool BurstPending => _burst;

    /// <summary>
    /// When the loop should wake (Stopwatch ticks): to hand a pending burst back, or for one more tick
    /// after a second with events; <see cref="Deadline.Never"/> once a quiet tick found nothing pending.
    /// </summary>
    internal long WakeDue { get; private set; } = Deadline.Never;

    /// <summary>The end of a pass that saw <paramref name="events"/> events, at <paramref name="now"/>, with <paramref name="channels"/> in the map: two stores, an add and a compare unless a tick is due.</summary>
    internal void AfterPass(long now, int events, int channels)
    {
        _events += events;
        _channels = channels;
        if (now >= _nextTick)
        {
            Tick(now);
        }
        else if (events > 0 && _enabled && _nextTick < WakeDue)
        {
            // Activity since the last tick: come back for the next one even if nothing else wakes
            // the loop, so the last pass of a burst (channels closing, the heap grown) is looked at.
            WakeDue = _nextTick;
        }
    }

    private void Tick(long now)
    {
        MemoryReturnOptions o = _options();
        long elapsed = now - _tickStart;
        bool first = _nextTick == long.MinValue;
        _nextTick = now + TickTicks;
        _tickStart = now;
        long events = _events;
        _events = 0;
        _enabled = o.Enabled;
        if (!o.Enabled)
        {
            _burst = false;
            WakeDue = Deadline.Never;
            return;
        }

        long heap = _heap();
        if (first)
        {
            _peakChannels = _channels;
            _quietHeap = _peakHeap = heap;
            _lastBusy = now;
            return;
        }

        // Events a second over the tick (a tick may span many seconds when the loop slept).
        bool quiet = events * Stopwatch.Frequency <= (long)o.QuietEventsPerSecond * Math.Max(elapsed, TickTicks);
        if (!quiet)
        {
            _lastBusy = now;
        }

        _peakHeap = Math.Max(_peakHeap, heap);
        _peakChannels = Math.Max(_peakChannels, _channels);
        if (!_burst)
        {
            if (quiet && heap < _quietHeap)
            {
                _quietHeap = heap; // the quiet level follows the heap down (the runtime collected by itself)
            }

            if (_peakHeap - _quietHeap >= o.GrowthBytes)
            {
                _burst = true;
                _logger()?.LogDebug("Memory: the managed heap grew from {Quiet} to {Peak} MiB; it is handed back once the loop has been quiet for {QuietTime} s",
                    Mib(_quietHeap), Mib(_peakHeap), o.QuietTime.TotalSeconds);
            }
            else if (_peakChannels - _channels >= Math.Max(ChannelDrop, _peakChannels / 2))
            {
                // The channels of a burst left after an earlier hand-back (made while they were still
                // here, quiet because they had stopped reading): what they held is garbage now, and an
                // idle loop allocates nothing that would make the runtime collect it.
                _burst = true;
                _logger()?.LogDebug("Memory: {Left} of {Peak} channels left; memory is handed back once the loop has been quiet for {QuietTime} s",
                    _peakChannels - _channels, _peakChannels, o.QuietTime.TotalSeconds);
            }
        }

        if (!_burst)
        {
            WakeDue = Deadline.Never;
            return;
        }

        long quietFrom = Deadline.After(_lastBusy, o.QuietTime);
        long allowedFrom = _lastReturn == long.MinValue ? long.MinValue : Deadline.After(_lastReturn, o.MinimumInterval);
        if (now >= quietFrom && now >= allowedFrom)
        {
            // Refused when another loop of the process collected moments ago: try again next tick.
            WakeDue = HandBack(now, o) ? Deadline.Never : _nextTick;
        }
        else
        {
            WakeDue = Math.Max(Math.Max(quietFrom, allowedFrom), _nextTick);
        }
    }

    /// <returns>False when the collection was refused (another loop's ran within the process's interval): the burst stays pending.</returns>
    private bool HandBack(long now, MemoryReturnOptions o)
    {
        long started = Stopwatch.GetTimestamp();
        long before = _heap();
        _trim();
        bool collected = false;
        if (o.Collection != MemoryReturnCollection.None)
        {
            collected = Collect(o.Collection, o.QuietTime);
            if (!collected)
            {
                return false;
            }
        }

        long after = _heap();
        if (_logger() is { } logger && logger.IsEnabled(LogLevel.Information))
        {
            logger.LogInformation("Memory handed back after a burst: managed heap {Peak} MiB at its peak, {Before} MiB before, {After} MiB after ({What}), in {Ms:F0} ms",
                Mib(_peakHeap), Mib(before), Mib(after), collected ? o.Collection.ToString() + " collection" : "own buffers only",
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        _quietHeap = _peakHeap = after;
        _peakChannels = _channels;
        _burst = false;
        _lastReturn = now;
        Returns++;
        return true;
    }

    /// <summary>One collection for every loop of the process (the heap is the process's): none when another loop's ran within <paramref name="interval"/> (the quiet time), so loops that go quiet together collect once.</summary>
    private static bool CollectForTheProcess(MemoryReturnCollection how, TimeSpan interval)
    {
        long now = Deadline.Now;
        long last = Interlocked.Read(ref s_lastCollection);
        if ((last != 0 && now - last < Deadline.After(0, interval)) || Interlocked.CompareExchange(ref s_lastCollection, now, last) != last)
        {
            return false;
        }

        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(2, how == MemoryReturnCollection.Aggressive ? GCCollectionMode.Aggressive : GCCollectionMode.Forced, blocking: true, compacting: true);
        return true;
    }

    private static long Mib(long bytes) => bytes / (1024 * 1024);
}
