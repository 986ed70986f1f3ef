namespace Soak;

/// <summary>
/// The pass marks. A series is flat when its least-squares slope after warm-up is at most its limit
/// per minute. The limits sit far below what any per-connection leak produces at 1,000 connections
/// a second (60,000 a minute) and above what sampling noise does to a 9-minute fit.
/// </summary>
static class Verdict
{
    /// <summary>
    /// Live managed heap: 256 KiB a minute, about 4 bytes per connection; one object kept per
    /// connection is several times that. The noise (which idle connections are open at the sampled
    /// instant, a few hundred at ~1–2 KiB) moves a 54-point fit by a few KiB a minute.
    /// </summary>
    public const double HeapBytesPerMinute = 256 * 1024;

    /// <summary>
    /// RSS: 2 MiB a minute, about 35 bytes per connection. Looser than the heap: the runtime's
    /// native allocations (JIT, GC bookkeeping) still move a little after warm-up.
    /// </summary>
    public const double RssBytesPerMinute = 2 * 1024 * 1024;

    /// <summary>
    /// Open descriptors: 2 a minute, one descriptor lost per 30,000 connections. The count at an
    /// instant follows the idle connections open (~250, ± ~20), which moves a 54-point fit by
    /// about 1 a minute.
    /// </summary>
    public const double DescriptorsPerMinute = 2;

    /// <summary>Post latency: p99.9 at most 1 ms (the upper edge of its 1 µs bin).</summary>
    public const double PostP999Microseconds = 1000;

    /// <summary>Fewer samples after warm-up than this (a 10-minute run has 55): the slopes are shown but marked as indicative.</summary>
    public const int SamplesForVerdict = 20;
}
