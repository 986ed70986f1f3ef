using Asyncore.Polling;

namespace Asyncore.Tests.Support;

/// <summary>Whether this kernel lets the process make an io_uring, and if not, why.</summary>
internal static class Ring
{
    private static readonly Lazy<string?> s_why = new(() =>
    {
        if (!OperatingSystem.IsLinux())
        {
            return "needs io_uring (Linux)";
        }

        using IoUringPoller? p = IoUringPoller.TryCreate(out int errno);
        return p is null ? $"needs io_uring, which this kernel refuses (io_uring_setup errno {errno}: ENOSYS on old kernels, EPERM under kernel.io_uring_disabled or a seccomp filter)" : null;
    });

    /// <summary>Null where io_uring works; otherwise the reason a test that needs it skips.</summary>
    public static string? Why => s_why.Value;
}

/// <summary>A fact about the io_uring backend itself: it skips, saying why, where the kernel refuses io_uring (the backend would fall back to epoll and test nothing of its own).</summary>
public sealed class RingFactAttribute : FactAttribute
{
    public RingFactAttribute() => Skip = Ring.Why;
}

/// <summary>A theory about the io_uring backend itself: it skips, saying why, where the kernel refuses io_uring.</summary>
public sealed class RingTheoryAttribute : TheoryAttribute
{
    public RingTheoryAttribute() => Skip = Ring.Why;
}
