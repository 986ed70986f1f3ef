using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore;

/// <summary>
/// The process's open-file limit, which bounds how many connections one loop can hold. The loop
/// raises it on its first pass as far as it may (the soft limit to the hard one; as root, both to
/// the kernel's fs.nr_open) and says so once on standard error when it stays low.
/// </summary>
public static class FileLimit
{
    private const ulong Wanted = 1 << 20;
    private static int s_done;

    /// <summary>The soft limit on open descriptors now (-1 where it cannot be read).</summary>
    public static long Current => OperatingSystem.IsLinux() && Libc.GetRLimit(Libc.RLIMIT_NOFILE_LINUX, out Libc.RLimit l) == 0 ? (long)Math.Min(l.Current, long.MaxValue) : -1;

    /// <summary>Raises the limit as far as this process may; the loop calls it once on its first pass.</summary>
    /// <returns>The soft limit afterwards (-1 where it cannot be read).</returns>
    public static long Raise()
    {
        if (!OperatingSystem.IsLinux())
        {
            return -1;
        }

        return RaiseLinux();
    }

    internal static void RaiseOnce()
    {
        // Called every pass: a plain read after the first time, no interlocked operation.
        if (Volatile.Read(ref s_done) == 0 && Interlocked.Exchange(ref s_done, 1) == 0)
        {
            long now = Raise();
            if (now >= 0 && now < 65536)
            {
                Console.Error.WriteLine($"asyncore: this process may open only {now} descriptors, so a loop holds fewer than {now} connections; raise the hard limit (ulimit -Hn) to hold more");
            }
        }
    }

    [SupportedOSPlatform("linux")]
    private static long RaiseLinux()
    {
        if (Libc.GetRLimit(Libc.RLIMIT_NOFILE_LINUX, out Libc.RLimit limit) != 0)
        {
            return -1;
        }

        ulong ceiling = Wanted;
        try
        {
            ceiling = Math.Min(Wanted, ulong.Parse(File.ReadAllText("/proc/sys/fs/nr_open").Trim(), System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
        }

        if (limit.Max < ceiling)
        {
            // Raising the hard limit needs CAP_SYS_RESOURCE (root); without it this fails quietly.
            var both = new Libc.RLimit { Current = ceiling, Max = ceiling };
            if (Libc.SetRLimit(Libc.RLIMIT_NOFILE_LINUX, both) == 0)
            {
                return (long)ceiling;
            }
        }

        if (limit.Current < limit.Max)
        {
            var soft = new Libc.RLimit { Current = Math.Min(limit.Max, ceiling), Max = limit.Max };
            Libc.SetRLimit(Libc.RLIMIT_NOFILE_LINUX, soft);
        }

        return Current;
    }
}
