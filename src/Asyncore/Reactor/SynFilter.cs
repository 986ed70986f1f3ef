using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Asyncore.Reactor;

/// <summary>
/// A classic BPF socket filter that drops every TCP segment with SYN set, attached to a listening
/// socket when its map drains (Linux). The kernel then starts no new handshake on that listener,
/// while handshakes already under way still complete into its accept queue, so the drain can accept
/// them before it closes the socket. Closing a listener resets whatever its accept queue holds (unless
/// <c>net.ipv4.tcp_migrate_req</c> hands it to another socket of a SO_REUSEPORT group); with the
/// queue emptied first, no completed connection is reset. A client whose SYN was dropped sends it again
/// after its retransmission timeout (1 s on Linux) and is then refused by the closed port.
/// </summary>
/// <remarks>
/// The filter of a TCP socket sees the segment from its TCP header on (the kernel has pulled the IP
/// header), so byte 13 holds the flags. Sockets accepted from the listener afterwards inherit the filter;
/// an established connection never needs a segment with SYN set (such a segment only draws a challenge ACK).
/// </remarks>
internal static class SynFilter
{
    private const int SolSocket = 1;
    private const int SoAttachFilter = 26;

    [StructLayout(LayoutKind.Sequential)]
    private struct SockFilter
    {
        public ushort Code;
        public byte JumpTrue;
        public byte JumpFalse;
        public uint K;
    }

    /// <summary>
    /// Attaches the filter to a listening TCP socket.
    /// </summary>
    /// <returns>Whether it is attached: false off Linux, for a socket that is not TCP over IP, and when the kernel refused it.</returns>
    internal static unsafe bool Attach(Socket listener)
    {
        if (!OperatingSystem.IsLinux() || listener.SocketType != SocketType.Stream
            || listener.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            return false;
        }

        SockFilter* program = stackalloc SockFilter[4];
        program[0] = new SockFilter { Code = 0x30, K = 13 };                              // ldb [13]: the TCP flags
        program[1] = new SockFilter { Code = 0x45, JumpTrue = 1, JumpFalse = 0, K = 0x02 }; // jset #SYN: drop, else keep
        program[2] = new SockFilter { Code = 0x06, K = uint.MaxValue };                   // ret #-1: keep the whole segment
        program[3] = new SockFilter { Code = 0x06, K = 0 };                               // ret #0: drop it

        // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: the kernel copies the program.
        Span<byte> fprog = stackalloc byte[2 * IntPtr.Size];
        fprog.Clear();
        MemoryMarshal.Write(fprog, (ushort)4);
        MemoryMarshal.Write(fprog[IntPtr.Size..], (nint)program);
        try
        {
            listener.SetRawSocketOption(SolSocket, SoAttachFilter, fprog);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }
}
