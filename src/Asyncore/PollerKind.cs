namespace Asyncore;

/// <summary>Which readiness backend a loop pass uses.</summary>
public enum PollerKind
{
    /// <summary>The fastest backend available: epoll on Linux, poll(2) on other Unix systems, select on Windows.</summary>
    Default = 0,

    /// <summary>select semantics (<see cref="EventLoop.Poll(double, SocketMap?)"/>): all reads, then all writes, then exceptional conditions.</summary>
    Select = 1,

    /// <summary>poll(2) semantics (<see cref="EventLoop.Poll2(double, SocketMap?)"/>): per channel, read, write, priority, then hang-up.</summary>
    Poll = 2,

    /// <summary>epoll(7), level-triggered, Linux only; dispatches as <see cref="Poll"/> does.</summary>
    Epoll = 3,

    /// <summary>
    /// io_uring(7), Linux 6.x on x86-64 and arm64, opt-in (never chosen by <see cref="Default"/>):
    /// readiness through one-shot poll requests re-armed at each wait, and for plain
    /// <see cref="AsyncChat"/> channels receives and sends through the ring, all submitted and waited
    /// for with one system call; dispatches as <see cref="Poll"/> does. Where io_uring cannot be set up (an
    /// older kernel, io_uring_disabled, a seccomp filter, another OS) the loop uses <see cref="Epoll"/>
    /// (or what <see cref="Default"/> picks off Linux) and says so once through <see cref="SocketMap.Logger"/>.
    /// </summary>
    IoUring = 4,
}
