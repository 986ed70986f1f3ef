using System.Runtime.InteropServices;

namespace Asyncore.Interop;

internal static partial class Libc
{
    /// <summary>struct pollfd (poll(2)): the same layout on every Unix.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        internal int Fd;
        internal short Events;
        internal short REvents;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int Poll(PollFd* fds, nuint nfds, int timeout);
}
