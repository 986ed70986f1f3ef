using System.Runtime.Versioning;
using Asyncore.Interop;
using Microsoft.Extensions.Logging;

namespace Asyncore;

/// <summary>
/// The process's open-file limit, which bounds how many connections one loop can hold. Raising it
/// changes the whole process, so the library never does it by itself: a server calls
/// <see cref="Raise(ILogger?)"/> once at start-up (the samples do), as Redis raises it for
/// <c>maxclients</c> and nginx for <c>worker_rlimit_nofile</c>.
/// </summary>
public static class FileLimit
{
    private const ulong Wanted = 1 << 20;

    /// <summary>Below this many descriptors <see cref="Raise(ILogger?)"/> warns that the limit bounds the connections a loop holds.</summary>
    public const long LowLimit = 65536;

    /// <summary>The soft limit on open descriptors now (-1 where it cannot be read).</summary>
    public static long Current => OperatingSystem.IsLinux() && Libc.GetRLimit(Libc.RLIMIT_NOFILE_LINUX, out Libc.RLimit l) == 0 ? (long)Math.Min(l.Current, long.MaxValue) : -1;

    /// <summary>Raises the limit as far as this process may: the soft limit to the hard one; as root, both to the kernel's fs.nr_open (at most 2^20).</summary>
    /// <returns>The soft limit afterwards (-1 where it cannot be read).</returns>
    public static long Raise()
    {
        if (!OperatingSystem.IsLinux())
        {
            return -1;
        }

        return RaiseLinux();
    }

    /// <summary>
    /// <see cref="Raise()"/>, then one log line: at Information with the limit reached, or at Warning
    /// when it stays under <see cref="LowLimit"/> (with what to do about it).
    /// </summary>
    /// <param name="logger">Where the line goes; null writes nothing.</param>
    /// <returns>The soft limit afterwards (-1 where it cannot be read).</returns>
    public static long Raise(ILogger? logger) => Raise(logger, LowLimit);

    /// <summary>
    /// <see cref="Raise()"/>, then one log line: at Information with the limit reached, or at Warning
    /// when it stays under <paramref name="needed"/>, the descriptors this server needs (its
    /// connections plus its own files; Redis checks <c>maxclients</c> + 32 the same way).
    /// </summary>
    /// <param name="logger">Where the line goes; null writes nothing.</param>
    /// <param name="needed">The descriptors the program needs; below it the line is a warning.</param>
    /// <returns>The soft limit afterwards (-1 where it cannot be read).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="needed"/> is negative.</exception>
    public static long Raise(ILogger? logger, long needed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(needed);
        long now = Raise();
        if (logger is null || now < 0)
        {
            return now;
        }

        if (now < needed)
        {
            logger.LogWarning("this process may open only {Limit} descriptors, fewer than the {Needed} it needs; raise the hard limit (ulimit -Hn) to hold more", now, needed);
        }
        else
        {
            logger.LogInformation("open-file limit: {Limit} descriptors", now);
        }

        return now;
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
