namespace Asyncore.Polling;

/// <summary>The only place that picks a backend for the platform.</summary>
internal static class PollerFactory
{
    /// <summary>Turns <see cref="PollerKind.Default"/> (and kinds this OS lacks) into a concrete kind.</summary>
    internal static PollerKind Resolve(PollerKind kind) => kind switch
    {
        PollerKind.Default when OperatingSystem.IsLinux() => PollerKind.Epoll,
        PollerKind.Default or PollerKind.Epoll or PollerKind.Poll when OperatingSystem.IsWindows() => PollerKind.Select,
        PollerKind.Default => PollerKind.Poll,
        PollerKind.Epoll when !OperatingSystem.IsLinux() => PollerKind.Poll,
        _ => kind,
    };

    /// <summary>Creates a backend for a kind that <see cref="Resolve"/> returned.</summary>
    internal static IPoller Create(PollerKind resolved)
    {
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
