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
}
