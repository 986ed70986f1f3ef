namespace Asyncore.Interop;

internal static partial class Libc
{
    // errno values the backends test. Linux numbering; EAGAIN differs on the BSDs and macOS (35).
    internal const int EPERM = 1;
    internal const int ENOENT = 2;
    internal const int EINTR = 4;
    internal const int EBADF = 9;
    internal const int EEXIST = 17;
    internal static int EAGAIN => OperatingSystem.IsLinux() ? 11 : 35;
}
