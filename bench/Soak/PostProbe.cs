using System.Diagnostics;
using Asyncore;

namespace Soak;

/// <summary>
/// A thread that calls <see cref="SocketMap.Post"/> every few milliseconds and measures, on the
/// loop's thread, how long each action waited: from the call to the action running. Posts made
/// during warm-up go to a histogram of their own, and so do posts whose wait overlapped the
/// sampler's forced full collection (<see cref="BeginPause"/>): that pause is the measurement's,
/// not the server's.
/// </summary>
sealed class PostProbe
{
    private readonly SocketMap _map;
    private readonly int _everyMs;
    private readonly long _warmupEnds;
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _posted;
    private long _ran;
    private long _windowMaxTicks;
    private long _pauseStart = long.MaxValue;
    private long _pauseEnd = long.MinValue;

    public PostProbe(SocketMap map, int everyMs, long warmupEndsTimestamp)
    {
        _map = map;
        _everyMs = everyMs;
        _warmupEnds = warmupEndsTimestamp;
        _thread = new Thread(Run) { IsBackground = true, Name = "Post probe" };
    }

    public LatencyHistogram Warmup { get; } = new();

    public LatencyHistogram Measured { get; } = new();

    /// <summary>
    /// The posts of <see cref="Measured"/> during whose wait no garbage collection ran in the server: what is
    /// left of the tail once the runtime's own pauses are taken out.
    /// </summary>
    public LatencyHistogram WithoutCollection { get; } = new();

    /// <summary>Posts (after warm-up) that waited while the sampler's forced collection stopped the process.</summary>
    public LatencyHistogram DuringSampling { get; } = new();

    public long Posted => Interlocked.Read(ref _posted);

    public long Ran => Interlocked.Read(ref _ran);

    public void Start() => _thread.Start();

    /// <summary>Stops posting, then gives the actions already posted up to <paramref name="drain"/> to run.</summary>
    public void Stop(TimeSpan drain)
    {
        _stop = true;
        _thread.Join();
        var sw = Stopwatch.StartNew();
        while (Ran < Posted && sw.Elapsed < drain)
        {
            Thread.Sleep(1);
        }
    }

    /// <summary>The sampler is about to force a collection.</summary>
    public void BeginPause()
    {
        Volatile.Write(ref _pauseEnd, long.MaxValue); // first, so that a reader who sees the new start sees this too
        Volatile.Write(ref _pauseStart, Stopwatch.GetTimestamp());
    }

    /// <summary>The sampler's collection is over.</summary>
    public void EndPause() => Volatile.Write(ref _pauseEnd, Stopwatch.GetTimestamp());

    /// <summary>The longest wait since the previous call, in µs (the sampler's per-window figure).</summary>
    public double TakeWindowMaxMicroseconds() => Interlocked.Exchange(ref _windowMaxTicks, 0) * 1e6 / Stopwatch.Frequency;

    private void Run()
    {
        while (!_stop)
        {
            Thread.Sleep(_everyMs);
            long posted = Stopwatch.GetTimestamp();
            int collections = GC.CollectionCount(0); // counts every collection (a gen1 or gen2 one includes gen0)
            Interlocked.Increment(ref _posted);
            _map.Post(() => Record(posted, collections));
        }
    }

    private void Record(long posted, int collections)
    {
        long now = Stopwatch.GetTimestamp();
        long ticks = now - posted;
        bool paused = now >= Volatile.Read(ref _pauseStart) && posted <= Volatile.Read(ref _pauseEnd);
        var histogram = posted < _warmupEnds ? Warmup : paused ? DuringSampling : Measured;
        histogram.Add(ticks);
        if (histogram == Measured && GC.CollectionCount(0) == collections)
        {
            WithoutCollection.Add(ticks);
        }

        Interlocked.Increment(ref _ran);
        LatencyHistogram.RaiseTo(ref _windowMaxTicks, ticks);
    }
}
