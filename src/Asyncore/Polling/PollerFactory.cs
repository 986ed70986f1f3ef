namespace Asyncore.Polling;

/// <summary>The only place that picks a backend for the platform.</summary>
internal static class PollerFactory
{
    /// <summary>Turns <see cref="PollerKind.Default"/> (and kinds this OS lacks) into a concrete kind.</summary>
    /// <remarks>
    /// <see cref="PollerKind.IoUring"/> stays itself on Linux even where the kernel refuses it: the
    /// map then keeps the epoll backend <see cref="Create"/> fell back to instead of trying again every pass.
    /// </remarks>
    internal static PollerKind Resolve(PollerKind kind) => kind switch
    {
        PollerKind.Default when OperatingSystem.IsLinux() => PollerKind.Epoll,
        PollerKind.Default or PollerKind.Epoll or PollerKind.Poll or PollerKind.IoUring when OperatingSystem.IsWindows() => PollerKind.Select,
        PollerKind.Default => PollerKind.Poll,
        PollerKind.Epoll or PollerKind.IoUring when !OperatingSystem.IsLinux() => PollerKind.Poll,
        _ => kind,
    };

    /// <summary>Creates a backend for a kind that <see cref="Resolve"/> returned.</summary>
    /// <param name="resolved">The kind.</param>
    /// <param name="fellBack">Told why, when io_uring was asked for and epoll is used instead.</param>
    internal static IPoller Create(PollerKind resolved, Action<string>? fellBack = null)
    {
        if (resolved == PollerKind.IoUring && OperatingSystem.IsLinux())
        {
            if (IoUringPoller.TryCreate(out int errno) is { } ring)
            {
                return ring;
            }

            fellBack?.Invoke($"io_uring cannot be used here (io_uring_setup: [Errno {errno}] {Errors.StrError(errno)}); this loop uses epoll");
            return new EpollPoller();
        }

        if (resolved == PollerKind.Epoll && OperatingSystem.IsLinux())
        {
            return new EpollPoller();
        }

        if (resolved == PollerKind.Poll && !OperatingSystem.IsWindows())
        {
            return new PollPoller();
        }

        return new SelectPoller();
    }
}
