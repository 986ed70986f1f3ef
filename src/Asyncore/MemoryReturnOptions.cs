namespace Asyncore;

/// <summary>
/// When a loop hands memory back after a burst (<see cref="SocketMap.MemoryReturn"/>): once the
/// managed heap has grown <see cref="GrowthBytes"/> past its quiet level and the loop has then seen
/// at most <see cref="QuietEventsPerSecond"/> events a second for <see cref="QuietTime"/>, the loop
/// trims its own buffers once and asks the runtime for a full, compacting collection that returns
/// the freed memory to the operating system. It never runs while the loop is busy, at most once
/// per <see cref="MinimumInterval"/> per loop, and collections of the process's loops are at least <see cref="QuietTime"/> apart.
/// </summary>
/// <remarks>
/// The collection blocks the loop's thread for as long as a full compacting collection takes (tens
/// of milliseconds for a few hundred MiB); it only happens once the loop is quiet. Properties are
/// read on the loop's thread at the end of a pass; change them there (or inside <see cref="SocketMap.Post"/>).
/// </remarks>
public sealed class MemoryReturnOptions
{
    private long _growthBytes = 32L * 1024 * 1024;
    private TimeSpan _quietTime = TimeSpan.FromSeconds(5);
    private TimeSpan _minimumInterval = TimeSpan.FromSeconds(30);
    private int _quietEventsPerSecond = 64;

    /// <summary>Whether the loop hands memory back at all (default true).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// How far the managed heap must grow past its quiet level (its size after the last hand-back,
    /// or the lowest seen) for the loop to call it a burst (default 32 MiB; at least 1 MiB).
    /// </summary>
    public long GrowthBytes
    {
        get => _growthBytes;
        set => _growthBytes = value >= 1024 * 1024 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "at least 1 MiB");
    }

    /// <summary>How long the loop must stay quiet after a burst before it hands memory back (default 5 s; 1 s to 1 hour).</summary>
    public TimeSpan QuietTime
    {
        get => _quietTime;
        set => _quietTime = value >= TimeSpan.FromSeconds(1) && value <= TimeSpan.FromHours(1) ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "1 s to 1 hour");
    }

    /// <summary>The most events a second a quiet loop sees (default 64; zero or more): a few keep-alive clients do not keep memory held.</summary>
    public int QuietEventsPerSecond
    {
        get => _quietEventsPerSecond;
        set => _quietEventsPerSecond = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "zero or more");
    }

    /// <summary>The least time between two hand-backs of this loop (default 30 s; zero or more). Collections asked for by the loops of one process are at least <see cref="QuietTime"/> apart; a loop refused one tries again a second later.</summary>
    public TimeSpan MinimumInterval
    {
        get => _minimumInterval;
        set => _minimumInterval = value >= TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "zero or more");
    }

    /// <summary>What the loop asks of the runtime once it trimmed its own buffers (default <see cref="MemoryReturnCollection.Aggressive"/>).</summary>
    public MemoryReturnCollection Collection { get; set; } = MemoryReturnCollection.Aggressive;
}

/// <summary>What a loop asks of the runtime when it hands memory back (<see cref="MemoryReturnOptions.Collection"/>).</summary>
public enum MemoryReturnCollection
{
    /// <summary>Nothing: the loop only trims its own buffers and caches; the runtime collects when it sees fit.</summary>
    None,

    /// <summary>A full, blocking, compacting collection that compacts the large object heap too.</summary>
    Compacting,

    /// <summary>
    /// As <see cref="Compacting"/>, in the runtime's aggressive mode (<c>GCCollectionMode.Aggressive</c>):
    /// it also decommits the free space it keeps for later allocations, so resident memory drops.
    /// </summary>
    Aggressive,
}
