using System.Runtime.InteropServices;

namespace Asyncore.Interop;

internal static partial class Libc
{
    internal const int EPOLL_CLOEXEC = 0x80000;
    internal const int EPOLL_CTL_ADD = 1;
    internal const int EPOLL_CTL_DEL = 2;
    internal const int EPOLL_CTL_MOD = 3;

    /// <summary>
    /// struct epoll_event on x86-64: the kernel declares it packed, so it is 12 bytes with the
    /// data at offset 4 (include/uapi/linux/eventpoll.h, EPOLL_PACKED).
    /// </summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    internal struct EpollEventPacked
    {
        internal uint Events;
        internal ulong Data;
    }

    /// <summary>struct epoll_event on Arm64, Arm and the rest: naturally aligned, 16 bytes, data at offset 8.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct EpollEventAligned
    {
        internal uint Events;
        internal ulong Data;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "epoll_create1", SetLastError = true)]
    internal static partial int EpollCreate1(int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
    internal static unsafe partial int EpollCtl(int epfd, int op, int fd, void* ev);

    [LibraryImport(Libraries.Libc, EntryPoint = "epoll_wait", SetLastError = true)]
    internal static unsafe partial int EpollWait(int epfd, void* events, int maxevents, int timeout);
}
