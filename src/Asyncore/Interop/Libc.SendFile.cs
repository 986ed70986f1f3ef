using System.Runtime.InteropServices;

namespace Asyncore.Interop;

internal static partial class Libc
{
    // errno values sendfile(2) answers with (Linux numbering).
    internal const int EIO = 5;
    internal const int EPIPE = 32;
    internal const int EOPNOTSUPP = 95;
    internal const int ECONNABORTED = 103;
    internal const int ECONNRESET = 104;
    internal const int ENOTCONN = 107;

    /// <summary>
    /// sendfile(2): copies <paramref name="count"/> bytes of <paramref name="inFd"/> from
    /// <c>*offset</c> to <paramref name="outFd"/> inside the kernel and moves <c>*offset</c> past them;
    /// the file's own position is left alone. 64-bit Linux only (off_t is 64 bits there).
    /// </summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sendfile", SetLastError = true)]
    internal static unsafe partial nint SendFile(int outFd, int inFd, long* offset, nuint count);
}
