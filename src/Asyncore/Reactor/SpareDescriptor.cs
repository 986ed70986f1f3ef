using System.Net.Sockets;
using System.Runtime.InteropServices;
using Asyncore.Interop;

namespace Asyncore.Reactor;

/// <summary>
/// One descriptor the process holds in reserve (an open /dev/null) for the moment it runs out:
/// closing it frees one number, enough to accept a waiting connection and close it cleanly, then it
/// is taken again (libuv's <c>uv__emfile_trick</c>). Shared by every listener in the process.
/// </summary>
internal static class SpareDescriptor
{
    private const int MaxRefusedAtOnce = 64;
    private static int s_fd = -1;
    private static readonly Lock Gate = new();

    /// <summary>Takes the spare descriptor if the process does not hold it yet (called when a channel starts listening).</summary>
    internal static void Ensure()
    {
        if (OperatingSystem.IsWindows() || Volatile.Read(ref s_fd) >= 0)
        {
            return;
        }

        lock (Gate)
        {
            if (s_fd < 0)
            {
                s_fd = Libc.Open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC);
            }
        }
    }

    /// <summary>Compiles <see cref="RefuseWaiting"/> ahead, while the runtime can still open files.</summary>
    internal static void Prepare() =>
        System.Runtime.CompilerServices.RuntimeHelpers.PrepareMethod(
            typeof(SpareDescriptor).GetMethod(nameof(RefuseWaiting), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.MethodHandle);

    /// <summary>
    /// Frees the spare, accepts and closes waiting connections (at most 64) until none is left or
    /// none can be taken, then takes the spare again.
    /// </summary>
    /// <returns>How many connections were closed.</returns>
    internal static long RefuseWaiting(Socket listener)
    {
        if (OperatingSystem.IsWindows())
        {
            return 0;
        }

        lock (Gate)
        {
            if (s_fd < 0)
            {
                return 0;
            }

            Libc.Close(s_fd);
            s_fd = -1;
            long refused = 0;
            try
            {
                for (; refused < MaxRefusedAtOnce; refused++)
                {
                    Socket conn;
                    try
                    {
                        conn = listener.Accept();
                    }
                    catch (SocketException)
                    {
                        break; // none waiting, or still no descriptor
                    }

                    conn.LingerState = new LingerOption(false, 0);
                    conn.Dispose();
                }
            }
            finally
            {
                s_fd = Libc.Open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC);
                _ = Marshal.GetLastPInvokeError();
            }

            return refused;
        }
    }
}
