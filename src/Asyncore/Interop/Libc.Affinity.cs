using System.Runtime.InteropServices;

namespace Asyncore.Interop;

internal static partial class Libc
{
    /// <summary>Linux: the calling thread's (pid 0) CPU mask, <paramref name="size"/> bytes of bits.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sched_getaffinity", SetLastError = true)]
    internal static unsafe partial int SchedGetAffinity(int pid, nuint size, byte* mask);

    /// <summary>Linux: pins the calling thread (pid 0) to the CPUs set in the mask.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "sched_setaffinity", SetLastError = true)]
    internal static unsafe partial int SchedSetAffinity(int pid, nuint size, byte* mask);
}
