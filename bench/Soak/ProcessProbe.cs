namespace Soak;

/// <summary>What this process holds, read the way an operator would: live managed heap, RSS, open descriptors.</summary>
static class ProcessProbe
{
    /// <summary>
    /// The managed heap before and after a full blocking collection (with finalizers run). Only the
    /// second has a meaningful trend: without the collection, garbage that reached gen 2 (channels
    /// that lived through an idle timeout) stays counted until a gen 2 collection comes by itself.
    /// The collection pauses the loop too; the Post latencies include those pauses.
    /// </summary>
    public static (long BeforeGc, long Live) ManagedHeap()
    {
        long before = GC.GetTotalMemory(forceFullCollection: false);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return (before, GC.GetTotalMemory(forceFullCollection: false));
    }

    /// <summary>VmRSS from /proc/self/status, in bytes (-1 where there is none).</summary>
    public static long ResidentBytes()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }

        return -1;
    }

    /// <summary>Entries in /proc/self/fd (the one the listing itself opens included, the same in every sample).</summary>
    public static int OpenDescriptors() => Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
}
