using System.Runtime.InteropServices;

namespace Asyncore.Interop;

internal static partial class Libc
{
    internal static int AF_UNIX => 1;

    internal static int SOCK_STREAM => 1;

    /// <summary>SOCK_CLOEXEC (Linux): the pair is not inherited by child processes, like every .NET socket.</summary>
    internal static int SOCK_CLOEXEC => OperatingSystem.IsLinux() ? 0x80000 : 0;

    [LibraryImport(Libraries.Libc, EntryPoint = "socketpair", SetLastError = true)]
    internal static unsafe partial int SocketPair(int domain, int type, int protocol, int* sv);
}
