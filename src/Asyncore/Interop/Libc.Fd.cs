using System.Runtime.InteropServices;

namespace Asyncore.Interop;

internal static partial class Libc
{
    internal const int F_GETFD = 1;
    internal const int F_GETFL = 3;
    internal const int F_SETFL = 4;
    internal static int O_NONBLOCK => OperatingSystem.IsLinux() ? 0x800 : 0x4;

    internal const int O_RDONLY = 0;

    internal static int O_CLOEXEC => OperatingSystem.IsLinux() ? 0x80000 : 0x1000000;

    [LibraryImport(Libraries.Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "dup", SetLastError = true)]
    internal static partial int Dup(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(int fd, byte* buf, nint count);

    [LibraryImport(Libraries.Libc, EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(int fd, byte* buf, nint count);

    // fcntl is variadic; with integer arguments only, the fixed-argument call is ABI-compatible
    // on the System V x86-64 and AAPCS64 Linux ABIs.
    [LibraryImport(Libraries.Libc, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int cmd, int arg);

    /// <summary>Sets or clears O_NONBLOCK on a descriptor.</summary>
    internal static void SetNonBlocking(int fd, bool nonBlocking)
    {
        int flags = Fcntl(fd, F_GETFL, 0);
        if (flags < 0)
        {
            throw Errors.IOError(Marshal.GetLastPInvokeError());
        }

        int wanted = nonBlocking ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        if (wanted != flags && Fcntl(fd, F_SETFL, wanted) < 0)
        {
            throw Errors.IOError(Marshal.GetLastPInvokeError());
        }
    }
}
