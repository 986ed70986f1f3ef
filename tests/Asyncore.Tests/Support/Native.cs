using System.Runtime.InteropServices;

namespace Asyncore.Tests.Support;

internal static partial class Native
{
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "pipe", SetLastError = true)]
    internal static unsafe partial int Pipe(int* fds);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_APPEND = 0x400;

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);

    internal const int SIGTERM = 15;

    internal static unsafe (int Read, int Write) MakePipe()
    {
        int* fds = stackalloc int[2];
        if (Pipe(fds) != 0)
        {
            throw new IOException($"pipe failed: {Marshal.GetLastPInvokeError()}");
        }

        return (fds[0], fds[1]);
    }

    /// <summary>Open descriptors of this process (entries of /proc/self/fd).</summary>
    internal static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>Open sockets, pipes and epoll/event descriptors: what a network library can leak (not the files the runtime maps in).</summary>
    internal static int OpenNetworkDescriptors() =>
        Descriptors().Values.Count(t => t.StartsWith("socket:", StringComparison.Ordinal) || t.StartsWith("pipe:", StringComparison.Ordinal) || t.StartsWith("anon_inode:", StringComparison.Ordinal));

    /// <summary>What each open descriptor is (socket:[inode], pipe:[...], anon_inode:[eventpoll], a path).</summary>
    internal static Dictionary<string, string> Descriptors() =>
        Directory.GetFiles("/proc/self/fd").ToDictionary(
            f => Path.GetFileName(f),
            f =>
            {
                try
                {
                    return new FileInfo(f).LinkTarget ?? "?";
                }
                catch (IOException)
                {
                    return "?";
                }
            });
}
