using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Asyncore.Tests.Tls;

/// <summary>
/// What arrives on a TLS port that is not TLS, or not all of it: each such connection is closed on its
/// own (at once, or when the handshake timeout passes) while a good connection on the same loop keeps
/// being answered.
/// </summary>
public sealed class TlsBadInputTests
{
    private static readonly TestCertificate Cert = TestCertificate.Shared;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(1);

    /// <summary>A TLS record header for a handshake message of 512 bytes, and only 100 of them.</summary>
    private static readonly byte[] TruncatedRecord = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, .. Enumerable.Repeat((byte)0x03, 96)];

    public static TheoryData<string> Kinds() => ["plain HTTP", "random bytes", "truncated record then FIN", "truncated record then silence", "nothing at all"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ABadConnectionIsClosedAndAGoodOneGoesOn(string kind)
    {
        using var server = new TlsLineServer(Cert.ServerOptions(), handshakeTimeout: HandshakeTimeout);
        using SslStream good = TlsChannelTests.Connect(server.Address);
        Exchange(good, "before");

        using var bad = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        bad.Connect(server.Address);
        bool stalls = kind is "truncated record then silence" or "nothing at all";
        switch (kind)
        {
            case "plain HTTP":
                bad.Send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"u8);
                break;
            case "random bytes":
                byte[] noise = new byte[4096];
                new Random(13).NextBytes(noise);
                noise[0] = 0x16; // looks like a handshake record at first glance
                bad.Send(noise);
                break;
            case "truncated record then FIN":
                bad.Send(TruncatedRecord);
                bad.Shutdown(SocketShutdown.Send);
                break;
            case "truncated record then silence":
                bad.Send(TruncatedRecord);
                break;
        }

        var clock = Stopwatch.StartNew();
        Exchange(good, "while it is there"); // the loop is not held by the bad connection
        Assert.True(WaitClosed(bad, TimeSpan.FromSeconds(10)), $"{kind}: the server did not close the connection");
        TimeSpan took = clock.Elapsed;
        if (stalls)
        {
            Assert.True(took >= HandshakeTimeout * 0.8, $"{kind}: closed after {took}, before the handshake timeout");
        }
        else
        {
            Assert.True(took < HandshakeTimeout, $"{kind}: closed only after {took}, not at once");
        }

        Assert.True(SpinWait.SpinUntil(() => server.Events.Any(e => e.StartsWith("failed", StringComparison.Ordinal)), 5000));
        Assert.Contains(server.Events, e => e.StartsWith(stalls ? "failed TimeoutException" : "failed", StringComparison.Ordinal));
        Exchange(good, "after");
        Assert.Equal(2, server.Accepted);
    }

    /// <summary>
    /// A "handshake" that never ends: records of a handshake message that claims 16 MiB. The server
    /// stops reading it after its handshake budget (or earlier, if the engine refuses it first) and
    /// closes; it never buffers what the client goes on sending.
    /// </summary>
    [Fact]
    public void AnEndlessHandshakeCostsBoundedMemory()
    {
        using var server = new TlsLineServer(Cert.ServerOptions(), handshakeTimeout: TimeSpan.FromSeconds(10));
        using var bad = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        bad.Connect(server.Address);
        bad.SendTimeout = 2000;
        byte[] record = new byte[5 + 16384];
        record[0] = 0x16;
        record[1] = 0x03;
        record[2] = 0x03;
        record[3] = 0x40;
        record[4] = 0x00;
        byte[] first = (byte[])record.Clone();
        first[5] = 0x01; // ClientHello
        first[6] = 0xff; // of 16 MiB - 1
        first[7] = 0xff;
        first[8] = 0xff;
        long sent = 0;
        try
        {
            bad.Send(first);
            sent += first.Length;
            for (int i = 0; i < 256 && sent < 4 * 1024 * 1024; i++)
            {
                bad.Send(record);
                sent += record.Length;
            }
        }
        catch (SocketException)
        {
            // closed under us (reset, or the send timed out with the server no longer reading)
        }

        Assert.True(WaitClosed(bad, TimeSpan.FromSeconds(10)), "the server did not close the connection");
        Assert.True(SpinWait.SpinUntil(() => server.Events.Any(e => e.StartsWith("failed", StringComparison.Ordinal)), 5000));
        string failure = server.Events.First(e => e.StartsWith("failed", StringComparison.Ordinal));
        Assert.StartsWith("failed AuthenticationException", failure); // refused by the engine long before the timeout
    }

    /// <summary>
    /// The handshake budget itself, with an engine that takes every byte and never finishes (as a
    /// lenient engine would with a client that trickles a huge certificate chain): the channel stops
    /// feeding it at 128 KiB and closes.
    /// </summary>
    [Fact]
    public void TheHandshakeBudgetStopsAnEngineThatNeverFinishes()
    {
        var options = Cert.ServerOptions(); // this instance alone gets the bottomless engine
        var engine = new BottomlessEngine();
        Func<SslServerAuthenticationOptions, global::Asyncore.Tls.ITlsEngine?> source = o => ReferenceEquals(o, options) ? engine : null;
        global::Asyncore.Tls.TlsEngineFactory.AddServerSource(source);

        try
        {
            using var server = new TlsLineServer(options, handshakeTimeout: TimeSpan.FromSeconds(10));
            using var bad = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            bad.Connect(server.Address);
            bad.SendTimeout = 2000;
            byte[] block = new byte[16384];
            try
            {
                for (int i = 0; i < 64; i++)
                {
                    bad.Send(block);
                }
            }
            catch (SocketException)
            {
            }

            Assert.True(WaitClosed(bad, TimeSpan.FromSeconds(10)), "the server did not close the connection");
            Assert.True(SpinWait.SpinUntil(() => server.Events.Any(e => e.StartsWith("failed", StringComparison.Ordinal)), 5000));
            Assert.Contains(server.Events, e => e.Contains("more than 131072 bytes", StringComparison.Ordinal));
            Assert.Equal(128 * 1024, engine.Fed);
            Assert.True(engine.Disposed);
        }
        finally
        {
            global::Asyncore.Tls.TlsEngineFactory.RemoveServerSource(source);
        }
    }

    /// <summary>An engine that swallows all ciphertext and never completes its handshake.</summary>
    private sealed class BottomlessEngine : global::Asyncore.Tls.ITlsEngine
    {
        public long Fed;
        public bool Disposed;

        public bool IsHandshakeComplete => false;

        public global::Asyncore.Tls.TlsStatus Handshake() => global::Asyncore.Tls.TlsStatus.WantRead;

        public void FeedInput(ReadOnlySpan<byte> ciphertext) => Fed += ciphertext.Length;

        public int PendingOutput => 0;

        public int TakeOutput(Span<byte> destination) => 0;

        public global::Asyncore.Tls.TlsStatus Read(Span<byte> destination, out int read)
        {
            read = 0;
            return global::Asyncore.Tls.TlsStatus.WantRead;
        }

        public int PendingPlaintext => 0;

        public global::Asyncore.Tls.TlsStatus Write(ReadOnlySpan<byte> source, out int written) => throw new InvalidOperationException();

        public void Shutdown()
        {
        }

        public System.Security.Authentication.SslProtocols Protocol => default;

        public TlsCipherSuite CipherSuite => default;

        public SslApplicationProtocol ApplicationProtocol => default;

        public System.Security.Cryptography.X509Certificates.X509Certificate2? RemoteCertificate => null;

        public string? TargetHostName => null;

        public void Dispose() => Disposed = true;
    }

    private static void Exchange(SslStream s, string line)
    {
        s.Write(Encoding.ASCII.GetBytes(line + "\r\n"));
        s.Flush();
        Assert.Equal(line.ToUpperInvariant() + "\r\n", TlsChannelTests.ReadExactly(s, line.Length + 2));
    }

    /// <summary>Reads (and drops: an alert, say) until the end of stream or a reset.</summary>
    private static bool WaitClosed(Socket s, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        byte[] buffer = new byte[65536];
        while (clock.Elapsed < within)
        {
            if (!s.Poll(TimeSpan.FromMilliseconds(100), SelectMode.SelectRead))
            {
                continue;
            }

            try
            {
                if (s.Receive(buffer) == 0)
                {
                    return true;
                }
            }
            catch (SocketException)
            {
                return true;
            }
        }

        return false;
    }
}
