using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Asyncore.Tests.Support;

/// <summary>Clients that send and never read: the floods the samples must survive, bounded in bytes and time.</summary>
internal static class Flood
{
    /// <summary>
    /// Connects with a small receive buffer (so the kernel holds little of the answers) and sends
    /// <paramref name="pattern"/> over and over, never reading, until <paramref name="maxBytes"/>
    /// are sent, the server has stopped taking bytes for <paramref name="stalled"/>, or
    /// <paramref name="limit"/> passed.
    /// </summary>
    /// <returns>The socket, still open, and how many bytes it sent.</returns>
    public static (Socket Socket, long Sent) NeverReading(EndPoint at, ReadOnlySpan<byte> pattern, long maxBytes, TimeSpan stalled, TimeSpan limit)
    {
        var s = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, SendBufferSize = 64 * 1024 };
        s.Connect(at);
        s.Blocking = false;
        byte[] block = new byte[64 * 1024 / pattern.Length * pattern.Length];
        for (int i = 0; i < block.Length; i += pattern.Length)
        {
            pattern.CopyTo(block.AsSpan(i));
        }

        long sent = 0;
        var clock = Stopwatch.StartNew();
        var lastProgress = Stopwatch.StartNew();
        int offset = 0;
        while (sent < maxBytes && clock.Elapsed < limit && lastProgress.Elapsed < stalled)
        {
            int n = s.Send(block, offset, (int)Math.Min(block.Length - offset, maxBytes - sent), SocketFlags.None, out SocketError error);
            if (error == SocketError.WouldBlock || n == 0)
            {
                Thread.Sleep(5);
                continue;
            }

            if (error != SocketError.Success)
            {
                break; // the server closed the connection
            }

            sent += n;
            offset = (offset + n) % block.Length;
            lastProgress.Restart();
        }

        return (s, sent);
    }

    /// <summary>Whether the server closed the connection: end of stream or a reset, within <paramref name="limit"/> (what arrives before is skipped).</summary>
    public static bool ClosedByServer(Socket s, TimeSpan limit)
    {
        s.Blocking = true;
        s.ReceiveTimeout = (int)limit.TotalMilliseconds;
        byte[] buf = new byte[256 * 1024];
        var clock = Stopwatch.StartNew();
        try
        {
            while (clock.Elapsed < limit)
            {
                if (s.Receive(buf) == 0)
                {
                    return true;
                }
            }
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode != SocketError.TimedOut;
        }

        return false;
    }
}
