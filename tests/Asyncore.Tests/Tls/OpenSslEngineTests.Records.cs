using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Tls;
using Asyncore.Tls.OpenSsl;

namespace Asyncore.Tests.Tls;

/// <content>Closing, records and what follows the handshake.</content>
public sealed partial class OpenSslEngineTests
{
    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public void CloseNotifyReadsAsClosed(SslProtocols protocol)
    {
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(protocols: protocol), ServerOptions());
        using (c)
        using (s)
        {
            AssertExchange(c, s, "last words"u8.ToArray());
            c.Shutdown();
            Assert.True(c.PendingOutput > 0);
            TlsPump.Move(c, s);
            Assert.True(s.PendingPlaintext > 0, "a whole close_notify record waits: Read has something to do");
            Assert.Equal(TlsStatus.Closed, s.Read(new byte[100], out int read));
            Assert.Equal(0, read);
            Assert.Equal(TlsStatus.Closed, s.Read(new byte[100], out _));
            // The server answers with its own close_notify.
            s.Shutdown();
            TlsPump.Move(s, c);
            Assert.Equal(TlsStatus.Closed, TlsPump.Drain(c, Stream.Null));
        }
    }

    [OpenSslFact]
    public void RecordsBehindCloseNotifyAreNotPendingPlaintext()
    {
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(), ServerOptions());
        using (c)
        using (s)
        {
            c.Shutdown();
            TlsPump.Move(c, s);
            // A whole application_data record behind the close_notify: OpenSSL never reads past the alert.
            s.FeedInput([0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]);
            Assert.True(s.PendingPlaintext > 0);
            Assert.Equal(TlsStatus.Closed, s.Read(new byte[100], out int read));
            Assert.Equal(0, read);
            // A loop that reads while PendingPlaintext > 0 must stop here, not spin on Closed.
            Assert.Equal(0, s.PendingPlaintext);
        }
    }

    [OpenSslFact]
    public void ShutdownBeforeTheHandshakeSendsNothing()
    {
        using var c = new OpenSslEngine(ClientOptions());
        c.Shutdown();
        Assert.Equal(0, c.PendingOutput);
        Assert.Equal(TlsStatus.WantWrite, c.Handshake());
        Assert.True(c.PendingOutput > 0, "the ClientHello");
    }

    [OpenSslFact]
    public void RandomBytesFailTheServerHandshakeWithOpenSslsReason()
    {
        using var s = new OpenSslEngine(ServerOptions());
        s.FeedInput(new Random(7).GetItems<byte>(Enumerable.Range(0, 256).Select(i => (byte)i).ToArray(), 600));
        var e = Assert.Throws<AuthenticationException>(() => s.Handshake());
        Assert.Contains("SSL routines", e.Message, StringComparison.Ordinal);
        Assert.Throws<IOException>(() => s.Handshake());
    }

    [OpenSslFact]
    public void PlainHttpAsAClientHelloIsNamed()
    {
        using var s = new OpenSslEngine(ServerOptions());
        s.FeedInput("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"u8);
        var e = Assert.Throws<AuthenticationException>(() => s.Handshake());
        Assert.Contains("http request", e.Message, StringComparison.Ordinal);
    }

    [OpenSslFact]
    public void ATruncatedClientHelloWaitsAndNeverPretends()
    {
        using var c = new OpenSslEngine(ClientOptions());
        using var s = new OpenSslEngine(ServerOptions());
        c.Handshake();
        byte[] hello = new byte[c.PendingOutput];
        c.TakeOutput(hello);
        s.FeedInput(hello.AsSpan(0, hello.Length / 2));
        Assert.Equal(TlsStatus.WantRead, s.Handshake());
        Assert.Equal(0, s.PendingOutput);
        Assert.False(s.IsHandshakeComplete);
        // What follows the cut is not the rest of the hello: a record header where its bytes should be.
        s.FeedInput(hello.AsSpan(0, hello.Length / 2));
        s.FeedInput(new byte[hello.Length]);
        Assert.Throws<AuthenticationException>(() => s.Handshake());
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public void ATruncatedRecordFollowedByAnotherFailsTheRead(SslProtocols protocol)
    {
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(protocols: protocol), ServerOptions());
        using (c)
        using (s)
        {
            TlsPump.Drain(c, Stream.Null); // TLS 1.3 session tickets
            Assert.Equal(TlsStatus.Ok, c.Write(new byte[1000], out _));
            byte[] first = new byte[c.PendingOutput];
            c.TakeOutput(first);
            Assert.Equal(TlsStatus.Ok, c.Write(new byte[1000], out _));
            byte[] second = new byte[c.PendingOutput];
            c.TakeOutput(second);

            s.FeedInput(first.AsSpan(0, first.Length - 10));
            Assert.Equal(TlsStatus.WantRead, s.Read(new byte[2000], out int read));
            Assert.Equal(0, read);
            Assert.Equal(0, s.PendingPlaintext);
            s.FeedInput(second);
            var e = Assert.Throws<IOException>(() => s.Read(new byte[2000], out _));
            Assert.Contains("SSL routines", e.Message, StringComparison.Ordinal);
            Assert.True(s.PendingOutput > 0, "the fatal alert waits to be sent");
        }
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12, 1)]
    [InlineData(SslProtocols.Tls13, 2)]
    public void LargeTransfersArriveByteExactWhateverTheChunks(SslProtocols protocol, int seed)
    {
        var random = new Random(seed);
        byte[] up = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        byte[] down = RandomNumberGenerator.GetBytes(2 * 1024 * 1024 + 5);
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(protocols: protocol), ServerOptions());
        using (c)
        using (s)
        {
            var atServer = new MemoryStream();
            var atClient = new MemoryStream();
            int upSent = 0, downSent = 0;
            byte[] wire = new byte[70_000];
            for (int step = 0; step < 100_000 && (atServer.Length < up.Length || atClient.Length < down.Length); step++)
            {
                if (upSent < up.Length)
                {
                    int n = Math.Min(random.Next(1, 40_000), up.Length - upSent);
                    Assert.Equal(TlsStatus.Ok, c.Write(up.AsSpan(upSent, n), out int w));
                    upSent += w;
                }

                if (downSent < down.Length)
                {
                    int n = Math.Min(random.Next(1, 40_000), down.Length - downSent);
                    Assert.Equal(TlsStatus.Ok, s.Write(down.AsSpan(downSent, n), out int w));
                    downSent += w;
                }

                // Ciphertext crosses in random pieces, cutting records anywhere.
                MoveInPieces(c, s, random, wire);
                MoveInPieces(s, c, random, wire);
                ReadSome(s, atServer, random);
                ReadSome(c, atClient, random);
            }

            Assert.Equal(up, atServer.ToArray());
            Assert.Equal(down, atClient.ToArray());
        }

        static void MoveInPieces(ITlsEngine from, ITlsEngine to, Random random, byte[] wire)
        {
            int taken = from.TakeOutput(wire.AsSpan(0, random.Next(1, wire.Length)));
            for (int at = 0; at < taken;)
            {
                int piece = Math.Min(random.Next(1, 3000), taken - at);
                to.FeedInput(wire.AsSpan(at, piece));
                at += piece;
            }
        }

        static void ReadSome(ITlsEngine engine, MemoryStream sink, Random random)
        {
            byte[] buffer = new byte[random.Next(1, 20_000)];
            while (engine.Read(buffer, out int read) == TlsStatus.Ok && read > 0)
            {
                sink.Write(buffer, 0, read);
            }
        }
    }

    [OpenSslFact]
    public void PendingPlaintextCoversDecryptedAndWholeUnreadRecords()
    {
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(protocols: SslProtocols.Tls13), ServerOptions());
        using (c)
        using (s)
        {
            TlsPump.Drain(c, Stream.Null);
            byte[] message = RandomNumberGenerator.GetBytes(3000);
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(TlsStatus.Ok, c.Write(message, out _));
            }

            Assert.Equal(0, s.PendingPlaintext);
            TlsPump.Move(c, s);
            Assert.True(s.PendingPlaintext >= 3 * 3000, $"three whole records fed, {s.PendingPlaintext} reported");
            var got = new MemoryStream();
            byte[] small = new byte[700];
            int reads = 0;
            while (s.PendingPlaintext > 0)
            {
                Assert.Equal(TlsStatus.Ok, s.Read(small, out int read));
                got.Write(small, 0, read);
                Assert.True(++reads < 100);
            }

            Assert.Equal(9000, got.Length);
            Assert.Equal(TlsStatus.WantRead, s.Read(small, out _));
        }
    }

    [OpenSslFact]
    public void TheIntermediateOfACertificateContextIsSent()
    {
        SslStreamCertificateContext context = SslStreamCertificateContext.Create(TestCertificates.Chained, [TestCertificates.Intermediate], offline: true);
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions("chained.test"), new SslServerAuthenticationOptions { ServerCertificateContext = context });
        using (c)
        using (s)
        {
            Assert.Equal(TestCertificates.Chained.Thumbprint, c.RemoteCertificate?.Thumbprint);
        }

        // Without the intermediate the client, which trusts only the root, cannot build the chain.
        using var lone = new OpenSslEngine(new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.Chained });
        using var client = new OpenSslEngine(ClientOptions("chained.test"));
        var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(client, lone));
        Assert.Contains("RemoteCertificateChainErrors", e.Message, StringComparison.Ordinal);
    }

    [OpenSslFact]
    public void ACertificateFromPemFilesServes()
    {
        string folder = Directory.CreateTempSubdirectory("asyncore-tls-pem-").FullName;
        try
        {
            TestCertificates.WritePem(folder);
            using X509Certificate2 fromPem = X509Certificate2.CreateFromPemFile(Path.Combine(folder, "server.pem"), Path.Combine(folder, "server.key"));
            (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(), new SslServerAuthenticationOptions { ServerCertificate = fromPem });
            using (c)
            using (s)
            {
                AssertExchange(c, s, "from PEM"u8.ToArray());
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [OpenSslFact]
    public void TheSelectionCallbackChoosesTheCertificateByServerName()
    {
        var asked = new List<string?>();
        var server = new SslServerAuthenticationOptions
        {
            ServerCertificateSelectionCallback = (_, name) =>
            {
                asked.Add(name);
                return name switch
                {
                    "example.test" => TestCertificates.Server,
                    "refused.test" => null!, // a callback that has nothing for the name
                    _ => TestCertificates.SelfSigned,
                };
            },
        };
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions("example.test"), server);
        using (c)
        using (s)
        {
            Assert.Equal(TestCertificates.Server.Thumbprint, c.RemoteCertificate?.Thumbprint);
            AssertExchange(c, s, "by name"u8.ToArray());
        }

        var anyCertificate = new SslClientAuthenticationOptions { TargetHost = "other.test", RemoteCertificateValidationCallback = (_, _, _, _) => true };
        (c, s) = Connected(anyCertificate, server);
        using (c)
        using (s)
        {
            Assert.Equal(TestCertificates.SelfSigned.Thumbprint, c.RemoteCertificate?.Thumbprint);
        }

        using var refusedClient = new OpenSslEngine(ClientOptions("refused.test"));
        using var refusedServer = new OpenSslEngine(server);
        var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(refusedClient, refusedServer));
        Assert.Contains("gave no certificate for refused.test", e.Message, StringComparison.Ordinal);
        Assert.Equal(["example.test", "other.test", "refused.test"], asked);
        // The chosen certificate is exported to OpenSSL once, not per handshake.
        OpenSslContext context = OpenSslContext.For(server);
        Assert.Same(context.CredentialFor(TestCertificates.Server), context.CredentialFor(TestCertificates.Server));
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12, 3)]
    [InlineData(SslProtocols.Tls13, 4)]
    public void AReaderThatTrustsPendingPlaintextMissesNothing(SslProtocols protocol, int seed)
    {
        // A loop reads once per readiness event with a small buffer, then goes on only while PendingPlaintext
        // says the engine holds more: if it ever said 0 with plaintext inside, bytes would be stranded.
        var random = new Random(seed);
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(protocols: protocol), ServerOptions());
        using (c)
        using (s)
        {
            byte[] data = RandomNumberGenerator.GetBytes(512 * 1024);
            for (int at = 0; at < data.Length;)
            {
                int n = Math.Min(random.Next(1, 30_000), data.Length - at);
                Assert.Equal(TlsStatus.Ok, c.Write(data.AsSpan(at, n), out _));
                at += n;
            }

            byte[] wire = new byte[c.PendingOutput];
            Assert.Equal(wire.Length, c.TakeOutput(wire));
            var got = new MemoryStream();
            byte[] small = new byte[random.Next(100, 2000)];
            for (int at = 0; at < wire.Length;)
            {
                int n = Math.Min(random.Next(1, 9000), wire.Length - at);
                s.FeedInput(wire.AsSpan(at, n));
                at += n;
                s.Read(small, out int read); // the one read a readiness event gives
                got.Write(small, 0, read);
                for (int spins = 0; s.PendingPlaintext > 0; spins++)
                {
                    Assert.True(spins < 10_000, "PendingPlaintext stayed above 0 without Read making progress");
                    s.Read(small, out read);
                    got.Write(small, 0, read);
                }
            }

            Assert.Equal(data, got.ToArray());
        }
    }

    [OpenSslFact]
    public void SessionsFromOneOptionsObjectShareOneContext()
    {
        SslServerAuthenticationOptions options = ServerOptions();
        Assert.Same(OpenSslContext.For(options), OpenSslContext.For(options));
        Assert.NotSame(OpenSslContext.For(options), OpenSslContext.For(ServerOptions()));
        // Many sessions from one context, each its own handshake.
        SslClientAuthenticationOptions client = ClientOptions();
        for (int i = 0; i < 5; i++)
        {
            (OpenSslEngine c, OpenSslEngine s) = Connected(client, options);
            using (c)
            using (s)
            {
                AssertExchange(c, s, [(byte)i]);
            }
        }
    }

    [OpenSslFact]
    public void OptionsItCannotHonourAreRefusedSoTheCallerCanFallBack()
    {
        var suites = new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.Server, CipherSuitesPolicy = new CipherSuitesPolicy([(TlsCipherSuite)0x7777]) };
        Assert.Throws<NotSupportedException>(() => new OpenSslEngine(suites));
        var noTls13Suite = new SslServerAuthenticationOptions
        {
            ServerCertificate = TestCertificates.Server,
            EnabledSslProtocols = SslProtocols.Tls13,
            CipherSuitesPolicy = new CipherSuitesPolicy([TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]),
        };
        Assert.Throws<NotSupportedException>(() => new OpenSslEngine(noTls13Suite));
#pragma warning disable SYSLIB0039 // TLS 1.0 on purpose: the engine must refuse it
        var old = new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.Server, EnabledSslProtocols = SslProtocols.Tls11 };
#pragma warning restore SYSLIB0039
        Assert.Throws<NotSupportedException>(() => new OpenSslEngine(old));
        Assert.Throws<ArgumentException>(() => new OpenSslEngine(new SslServerAuthenticationOptions()));
        // As SslStream: a server certificate without its private key is NotSupportedException.
        using X509Certificate2 publicOnly = X509CertificateLoader.LoadCertificate(TestCertificates.Server.RawData);
        Assert.Throws<NotSupportedException>(() => new OpenSslEngine(new SslServerAuthenticationOptions { ServerCertificate = publicOnly }));
    }

    [OpenSslFact]
    public void ADisposedEngineSaysSo()
    {
        var c = new OpenSslEngine(ClientOptions());
        c.Dispose();
        c.Dispose();
        Assert.Throws<ObjectDisposedException>(() => c.Handshake());
        Assert.Throws<ObjectDisposedException>(() => c.FeedInput([1]));
        c.Shutdown();
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public void SteadyStateRecordsAllocateNothing(SslProtocols protocol)
    {
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(protocols: protocol), ServerOptions());
        using (c)
        using (s)
        {
            byte[] message = RandomNumberGenerator.GetBytes(1024);
            byte[] wire = new byte[4096];
            byte[] plain = new byte[4096];
            long received = 0;

            void RoundTrip()
            {
                c.Write(message, out _);
                int n = c.TakeOutput(wire);
                s.FeedInput(wire.AsSpan(0, n));
                while (s.Read(plain, out int read) == TlsStatus.Ok && read > 0)
                {
                    received += read;
                }

                s.Write(message, out _);
                n = s.TakeOutput(wire);
                c.FeedInput(wire.AsSpan(0, n));
                while (c.Read(plain, out int read) == TlsStatus.Ok && read > 0)
                {
                    received += read;
                }
            }

            for (int i = 0; i < 200; i++)
            {
                RoundTrip();
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 2000; i++)
            {
                RoundTrip();
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(0, allocated);
            Assert.Equal(2200L * 2 * 1024, received);
        }
    }

    private static void AssertExchange(ITlsEngine client, ITlsEngine server, byte[] message)
    {
        Assert.Equal(TlsStatus.Ok, client.Write(message, out int written));
        Assert.Equal(message.Length, written);
        TlsPump.Move(client, server);
        var got = new MemoryStream();
        Assert.Equal(TlsStatus.WantRead, TlsPump.Drain(server, got));
        Assert.Equal(message, got.ToArray());

        Assert.Equal(TlsStatus.Ok, server.Write(message, out written));
        TlsPump.Move(server, client);
        got.SetLength(0);
        Assert.Equal(TlsStatus.WantRead, TlsPump.Drain(client, got));
        Assert.Equal(message, got.ToArray());
    }
}
