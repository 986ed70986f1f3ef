using System.Net.Sockets;
using Asyncore.Tls;
using Asyncore.Tests.Support;
using Asyncore.Tls.OpenSsl;

namespace Asyncore.Tests.Tls;

/// <summary>Why an OpenSSL test cannot run here, or null when it can.</summary>
internal static class OpenSslSkip
{
    internal static string? Engine => OpenSslEngine.IsAvailable ? null : "needs libssl.so.3 (apt-get install libssl3)";

    /// <summary>The engine and the openssl command.</summary>
    internal static string? EngineAndCli => Engine ?? Needs.Why(Outside.OpenSsl);
}

/// <summary>Runs only where libssl.so.3 loads (Debian 12 has it); says so when it does not.</summary>
public sealed class OpenSslFactAttribute : FactAttribute
{
    public OpenSslFactAttribute() => Skip = OpenSslSkip.Engine;
}

/// <summary>Theory form of <see cref="OpenSslFactAttribute"/>.</summary>
public sealed class OpenSslTheoryAttribute : TheoryAttribute
{
    public OpenSslTheoryAttribute() => Skip = OpenSslSkip.Engine;
}

/// <summary>Moves ciphertext between two engines in memory, the way a loop would between two sockets.</summary>
internal static class TlsPump
{
    /// <summary>Runs both handshakes to the end (bounded), moving every byte each side produces to the other.</summary>
    internal static void Handshake(ITlsEngine client, ITlsEngine server)
    {
        for (int round = 0; round < 50; round++)
        {
            client.Handshake();
            Move(client, server);
            server.Handshake();
            Move(server, client);
            if (client.IsHandshakeComplete && server.IsHandshakeComplete && client.PendingOutput == 0 && server.PendingOutput == 0)
            {
                return;
            }
        }

        throw new TimeoutException("the handshake did not finish in 50 rounds");
    }

    /// <summary>All of <paramref name="from"/>'s pending ciphertext into <paramref name="to"/>; returns the byte count.</summary>
    internal static int Move(ITlsEngine from, ITlsEngine to)
    {
        Span<byte> buffer = stackalloc byte[4096];
        int moved = 0;
        int n;
        while ((n = from.TakeOutput(buffer)) > 0)
        {
            to.FeedInput(buffer[..n]);
            moved += n;
        }

        return moved;
    }

    /// <summary>Everything readable now from <paramref name="engine"/> into <paramref name="sink"/>; the last status.</summary>
    internal static TlsStatus Drain(ITlsEngine engine, Stream sink)
    {
        Span<byte> buffer = stackalloc byte[16384];
        while (true)
        {
            TlsStatus status = engine.Read(buffer, out int read);
            if (read > 0)
            {
                sink.Write(buffer[..read]);
                continue;
            }

            return status;
        }
    }
}

/// <summary>
/// An engine over a blocking socket: a minimal pump for tests against real peers (SslStream, openssl
/// s_server/s_client). Every receive is bounded by the socket's 20 s timeout.
/// </summary>
internal sealed class SocketTls : IDisposable
{
    private readonly byte[] _in = new byte[17 * 1024];
    private readonly byte[] _out = new byte[17 * 1024];

    public SocketTls(ITlsEngine engine, Socket socket)
    {
        Engine = engine;
        Socket = socket;
        Socket.ReceiveTimeout = 20_000;
        Socket.SendTimeout = 20_000;
    }

    public ITlsEngine Engine { get; }

    public Socket Socket { get; }

    public void Handshake()
    {
        while (true)
        {
            Engine.Handshake();
            Flush();
            if (Engine.IsHandshakeComplete)
            {
                return;
            }

            if (!Fill())
            {
                throw new IOException("the peer closed the connection during the handshake");
            }
        }
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        TlsStatus status = Engine.Write(data, out int written);
        Assert.Equal(TlsStatus.Ok, status);
        Assert.Equal(data.Length, written);
        Flush();
    }

    /// <summary>Plaintext into <paramref name="destination"/>: the count, 0 after close_notify, -1 at EOF without one.</summary>
    public int Read(Span<byte> destination)
    {
        while (true)
        {
            TlsStatus status = Engine.Read(destination, out int read);
            Flush();
            if (read > 0)
            {
                return read;
            }

            if (status == TlsStatus.Closed)
            {
                return 0;
            }

            if (!Fill())
            {
                return -1;
            }
        }
    }

    /// <summary>Reads until close_notify or EOF; everything that came.</summary>
    public byte[] ReadToEnd()
    {
        var all = new MemoryStream();
        byte[] buffer = new byte[8192];
        int n;
        while ((n = Read(buffer)) > 0)
        {
            all.Write(buffer, 0, n);
        }

        return all.ToArray();
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes.</summary>
    public byte[] ReadExactly(int count)
    {
        byte[] data = new byte[count];
        int have = 0;
        while (have < count)
        {
            int n = Read(data.AsSpan(have));
            if (n <= 0)
            {
                throw new EndOfStreamException($"the stream ended after {have} of {count} bytes");
            }

            have += n;
        }

        return data;
    }

    public void Close()
    {
        Engine.Shutdown();
        Flush();
        Socket.Shutdown(SocketShutdown.Send);
    }

    public void Dispose()
    {
        Engine.Dispose();
        Socket.Dispose();
    }

    private void Flush()
    {
        int n;
        while ((n = Engine.TakeOutput(_out)) > 0)
        {
            int sent = 0;
            while (sent < n)
            {
                sent += Socket.Send(_out.AsSpan(sent, n - sent));
            }
        }
    }

    private bool Fill()
    {
        int n = Socket.Receive(_in);
        if (n == 0)
        {
            return false;
        }

        Engine.FeedInput(_in.AsSpan(0, n));
        return true;
    }
}
