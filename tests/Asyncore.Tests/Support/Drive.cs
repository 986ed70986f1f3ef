using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Asyncore.Tests.Support;

/// <summary>Loop and socket helpers the loopback tests share.</summary>
internal static class Drive
{
    /// <summary>Runs single passes of the map's loop until <paramref name="until"/> holds or time runs out.</summary>
    public static void Until(SocketMap map, Func<bool> until, double seconds = 20, PollerKind kind = PollerKind.Default, double passTimeout = 0.02)
    {
        var sw = Stopwatch.StartNew();
        while (!until() && sw.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            EventLoop.Loop(kind, passTimeout, map, count: 1);
        }
    }

    /// <summary>A connected pair of loopback TCP sockets (blocking).</summary>
    public static (Socket A, Socket B) TcpPair()
    {
        using var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        l.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        l.Listen(1);
        var a = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        a.Connect(l.LocalEndPoint!);
        return (a, l.Accept());
    }

    /// <summary>Everything a blocking socket receives until the peer closes (or resets) it.</summary>
    public static byte[] ReadToEnd(Socket s)
    {
        var all = new MemoryStream();
        var buf = new byte[65536];
        try
        {
            int n;
            while ((n = s.Receive(buf)) > 0)
            {
                all.Write(buf, 0, n);
            }
        }
        catch (SocketException)
        {
            // A reset ends the stream too; what arrived before it is the answer.
        }

        return all.ToArray();
    }

    /// <summary>
    /// Connects, sends <paramref name="request"/> (in pieces of <paramref name="chunk"/> bytes, a
    /// moment apart), half-closes and returns everything the server sent until it closed, as Latin-1.
    /// A server that closes first (after QUIT, or a protocol error) ends the sending: what it sent is the answer.
    /// </summary>
    public static string Exchange(EndPoint at, byte[] request, int chunk = int.MaxValue)
    {
        using var s = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 20_000 };
        s.Connect(at);
        try
        {
            for (int i = 0; i < request.Length; i += chunk)
            {
                s.Send(request, i, Math.Min(chunk, request.Length - i), SocketFlags.None);
                if (chunk < request.Length)
                {
                    Thread.Sleep(1);
                }
            }

            s.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }

        return System.Text.Encoding.Latin1.GetString(ReadToEnd(s));
    }
}
