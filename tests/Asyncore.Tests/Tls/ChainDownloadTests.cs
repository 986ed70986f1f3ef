using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Tests.Support;
using Asyncore.Tls;
using Asyncore.Tls.OpenSsl;

namespace Asyncore.Tests.Tls;

/// <summary>
/// A peer whose certificate was issued by an intermediate it does not send, and whose AIA "CA Issuers"
/// address points to an HTTP server that never answers. The peer's chain is checked on the loop's thread
/// (inside the handshake), so a download there would stall every channel of the loop: the check must
/// not touch the network, and the missing intermediate must fail the chain at once.
/// </summary>
public sealed class ChainDownloadTests
{
    private static readonly Lazy<X509Certificate2> s_root = new(() => MakeCa("CN=Asyncore AIA Test Root", null));
    private static readonly Lazy<X509Certificate2> s_intermediate = new(() => MakeCa("CN=Asyncore AIA Test Intermediate", s_root.Value));

    /// <summary>Which side of the TLS channel on the loop checks the other's certificate.</summary>
    public enum Verifier
    {
        /// <summary>A client channel on the loop checks the server's certificate.</summary>
        Client,

        /// <summary>A server channel on the loop asks for and checks the client's certificate.</summary>
        Server,
    }

    public static TheoryData<Verifier, string> VerifiersAndEngines() => new()
    {
        { Verifier.Client, "openssl" },
        { Verifier.Client, "sslstream" },
        { Verifier.Server, "openssl" },
        { Verifier.Server, "sslstream" },
    };

    /// <summary>
    /// With the options' own chain policy (none given): while the handshake with the bad certificate is
    /// under way, a plain echo channel on the same loop answers within 500 ms, the AIA server sees no
    /// fetch, and the chain fails as partial (the validation callback gets RemoteCertificateChainErrors).
    /// </summary>
    [Theory]
    [MemberData(nameof(VerifiersAndEngines))]
    public void AMissingIntermediateIsNotFetchedOnTheLoopThread(Verifier verifier, string engine)
    {
        using var aia = new StallingHttpServer();
        using X509Certificate2 leaf = IssueLeaf($"http://127.0.0.1:{aia.Port}/int.crt");
        var outcome = new Outcome();
        Run(verifier, engine, leaf, aia, outcome, policy: null, out long echoMs, out int fetches, out string requests);

        Assert.True(
            fetches == 0 && echoMs < 500,
            $"during the handshake the AIA server saw {fetches} fetch(es) [{requests}] and the echo channel on the same loop answered in {(echoMs < 0 ? "no time (no answer within 3 s)" : echoMs + " ms")}");
        Assert.True(outcome.Done.IsSet, "the handshake did not end");
        Assert.Equal(SslPolicyErrors.RemoteCertificateChainErrors, outcome.Errors & SslPolicyErrors.RemoteCertificateChainErrors);
        Assert.Contains(X509ChainStatusFlags.PartialChain, outcome.ChainStatus);
        Assert.StartsWith("failed", outcome.Result);
    }

    /// <summary>Without a validation callback the handshake fails at once, and the failure names the missing link.</summary>
    [Theory]
    [MemberData(nameof(VerifiersAndEngines))]
    public void WithoutACallbackTheHandshakeFailsNamingThePartialChain(Verifier verifier, string engine)
    {
        using var aia = new StallingHttpServer();
        using X509Certificate2 leaf = IssueLeaf($"http://127.0.0.1:{aia.Port}/int.crt");
        var outcome = new Outcome();
        var clock = Stopwatch.StartNew();
        Run(verifier, engine, leaf, aia, outcome, policy: null, out long echoMs, out int fetches, out string requests, withCallback: false);

        Assert.True(fetches == 0 && echoMs is >= 0 and < 500, $"AIA fetches {fetches} [{requests}], echo {echoMs} ms");
        Assert.True(outcome.Done.IsSet, "the handshake did not end");
        Assert.StartsWith("failed AuthenticationException", outcome.Result);
        Assert.Contains("PartialChain", outcome.Result);
        Assert.True(clock.ElapsedMilliseconds < 5_000, $"the handshake took {clock.ElapsedMilliseconds} ms to fail");
    }

    /// <summary>
    /// A chain policy given in the options is used as given: one that trusts the root and carries the
    /// intermediate in its extra store (downloads off) builds the chain offline and the handshake completes.
    /// The certificates of that policy stay the options' own: the handshake leaves them usable.
    /// </summary>
    [Theory]
    [MemberData(nameof(VerifiersAndEngines))]
    public void AnIntermediateTheChainPolicySuppliesCompletesTheChainWithoutAFetch(Verifier verifier, string engine)
    {
        using var aia = new StallingHttpServer();
        using X509Certificate2 leaf = IssueLeaf($"http://127.0.0.1:{aia.Port}/int.crt");
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        using X509Certificate2 intermediate = X509CertificateLoader.LoadCertificate(s_intermediate.Value.RawData);
        policy.CustomTrustStore.Add(s_root.Value);
        policy.ExtraStore.Add(intermediate);
        var outcome = new Outcome();
        Run(verifier, engine, leaf, aia, outcome, policy, out long echoMs, out int fetches, out string requests);

        Assert.True(fetches == 0 && echoMs is >= 0 and < 500, $"AIA fetches {fetches} [{requests}], echo {echoMs} ms");
        Assert.True(outcome.Done.IsSet, "the handshake did not end");
        Assert.Equal(SslPolicyErrors.None, outcome.Errors);
        Assert.Equal("complete", outcome.Result);
        Assert.True(IsUsable(intermediate), "the handshake disposed a certificate of the options' chain policy");
    }

    private static bool IsUsable(X509Certificate2 certificate)
    {
        try
        {
            return certificate.Extensions.Count > 0;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs one loop holding an echo listener and a TLS channel that verifies <paramref name="leaf"/> (sent
    /// without its intermediate by a peer on a thread of its own), pings the echo channel once the check
    /// happened (or a fetch began), then lets the AIA server go and waits for the handshake to end.
    /// </summary>
    private static void Run(Verifier verifier, string engine, X509Certificate2 leaf, StallingHttpServer aia, Outcome outcome, X509ChainPolicy? policy, out long echoMs, out int fetches, out string requests, bool withCallback = true)
    {
        RemoteCertificateValidationCallback? check = !withCallback ? null : (_, _, chain, errors) =>
        {
            outcome.Checked(errors, chain);
            return errors == SslPolicyErrors.None;
        };
        var clientOptions = new SslClientAuthenticationOptions { TargetHost = "aia.test", RemoteCertificateValidationCallback = check, CertificateChainPolicy = policy };
        var serverOptions = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = TestCertificate.Shared.Context,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = check,
            CertificateChainPolicy = policy,
        };
        Func<SslClientAuthenticationOptions, ITlsEngine?> clientSource = o => !ReferenceEquals(o, clientOptions) ? null
            : engine == "openssl" ? new OpenSslEngine(o) : SslStreamEngine.CreateClient(o);
        Func<SslServerAuthenticationOptions, ITlsEngine?> serverSource = o => !ReferenceEquals(o, serverOptions) ? null
            : engine == "openssl" ? new OpenSslEngine(o) : SslStreamEngine.CreateServer(o);
        TlsEngineFactory.AddClientSource(clientSource);
        TlsEngineFactory.AddServerSource(serverSource);
        SslStreamCertificateContext peerCredential = SslStreamCertificateContext.Create(leaf, additionalCertificates: null, offline: true);
        using var peerListener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        peerListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        peerListener.Listen(1);
        IPEndPoint echoAt = null!;
        IPEndPoint tlsAt = null!;
        var loop = new LoopThread(map =>
        {
            echoAt = new Listener(map, s => new Echo(s, map)).Address;
            tlsAt = new Listener(map, s => new VerifyingChannel(s, map, outcome).StartTls(serverOptions)).Address;
        });
        Task peer = Task.CompletedTask;
        try
        {
            if (verifier == Verifier.Client)
            {
                peer = Task.Run(() => PeerServer(peerListener, peerCredential));
                loop.Map.Post(() =>
                {
                    var client = new VerifyingChannel(null, loop.Map, outcome);
                    client.CreateSocket();
                    client.Connect(peerListener.LocalEndPoint!);
                    client.StartTls(clientOptions);
                });
            }
            else
            {
                peer = Task.Run(() => PeerClient(tlsAt, peerCredential));
            }

            SpinWait.SpinUntil(() => outcome.Done.IsSet || aia.Connections > 0, 5_000);
            echoMs = Ping(echoAt);
            fetches = aia.Connections;
            requests = string.Join(", ", aia.Requests);
        }
        finally
        {
            aia.Dispose(); // a fetch still waiting fails now, and the loop goes on
            outcome.Done.Wait(15_000);
            loop.Dispose();
            peer.Wait(15_000);
            TlsEngineFactory.RemoveClientSource(clientSource);
            TlsEngineFactory.RemoveServerSource(serverSource);
        }
    }

    /// <summary>Milliseconds until the echo channel sends "ping" back, or -1 after 3 s without it.</summary>
    private static long Ping(IPEndPoint echo)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 3_000 };
        socket.Connect(echo);
        var clock = Stopwatch.StartNew();
        socket.Send("ping"u8);
        byte[] back = new byte[4];
        int got = 0;
        try
        {
            while (got < back.Length)
            {
                int read = socket.Receive(back, got, back.Length - got, SocketFlags.None);
                if (read == 0)
                {
                    return -1;
                }

                got += read;
            }
        }
        catch (SocketException)
        {
            return -1;
        }

        return clock.ElapsedMilliseconds;
    }

    /// <summary>A TLS server presenting <paramref name="credential"/> (the leaf alone) to the loop's client.</summary>
    private static void PeerServer(Socket listener, SslStreamCertificateContext credential)
    {
        try
        {
            using Socket socket = listener.Accept();
            socket.ReceiveTimeout = 20_000;
            using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
            ssl.AuthenticateAsServer(new SslServerAuthenticationOptions { ServerCertificateContext = credential });
            ssl.ReadByte(); // until the client closes
        }
        catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
            // the loop's client refused the certificate, as it should
        }
    }

    /// <summary>A TLS client presenting <paramref name="credential"/> (the leaf alone) to the loop's server.</summary>
    private static void PeerClient(IPEndPoint server, SslStreamCertificateContext credential)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20_000 };
            socket.Connect(server);
            using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
            ssl.AuthenticateAsClient(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificateContext = credential,
                RemoteCertificateValidationCallback = (_, _, _, _) => true,
            });
            ssl.ReadByte(); // TLS 1.3: the server's verdict on the certificate arrives after the client's handshake
        }
        catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
            // the loop's server refused the certificate, as it should
        }
    }

    private static X509Certificate2 MakeCa(string subject, X509Certificate2? issuer)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (issuer is null)
        {
            return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using ECDsa issuerKey = issuer.GetECDsaPrivateKey()!;
        using X509Certificate2 made = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), Serial());
        return made.CopyWithPrivateKey(key);
    }

    /// <summary>A leaf for aia.test (server and client use) issued by the intermediate, whose AIA names <paramref name="caIssuers"/>.</summary>
    private static X509Certificate2 IssueLeaf(string caIssuers)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=aia.test", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("aia.test");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(s_intermediate.Value, true, false));
        // id-pe-authorityInfoAccess (1.3.6.1.5.5.7.1.1) with one id-ad-caIssuers address.
        request.CertificateExtensions.Add(new X509AuthorityInformationAccessExtension(ocspUris: null, caIssuersUris: [caIssuers]));
        using ECDsa issuerKey = s_intermediate.Value.GetECDsaPrivateKey()!;
        using X509Certificate2 made = request.Create(s_intermediate.Value.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), Serial());
        using X509Certificate2 withKey = made.CopyWithPrivateKey(key);
        // Through PKCS#12, so SslStream on the peer's side can use the key.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    private static byte[] Serial()
    {
        byte[] serial = RandomNumberGenerator.GetBytes(8);
        serial[0] &= 0x7f;
        return serial;
    }

    /// <summary>What the loop's TLS channel saw: the policy errors and chain status given to the callback, then how the handshake ended.</summary>
    private sealed class Outcome
    {
        public readonly ManualResetEventSlim Done = new();

        public volatile string? Result;

        public SslPolicyErrors Errors { get; private set; }

        public X509ChainStatusFlags[] ChainStatus { get; private set; } = [];

        public void Checked(SslPolicyErrors errors, X509Chain? chain)
        {
            Errors = errors;
            ChainStatus = chain?.ChainStatus.Select(s => s.Status).ToArray() ?? [];
        }

        public void End(string result)
        {
            Result ??= result;
            Done.Set();
        }
    }

    private sealed class Listener : Dispatcher
    {
        private readonly Action<Socket> _accept;

        public Listener(SocketMap map, Action<Socket> accept) : base(null, map)
        {
            _accept = accept;
            CreateSocket();
            Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Listen(8);
        }

        public IPEndPoint Address => (IPEndPoint)Socket!.LocalEndPoint!;

        public override bool Writable() => false;

        protected override void HandleAccepted(Socket socket, EndPoint address) => _accept(socket);
    }

    private sealed class Echo(Socket socket, SocketMap map) : AsyncChat(socket, map)
    {
        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => Push(data);

        protected override void FoundTerminator()
        {
        }
    }

    /// <summary>The TLS channel on the loop: a client (made with no socket) or an accepted server channel.</summary>
    private sealed class VerifyingChannel(Socket? socket, SocketMap map, Outcome outcome) : AsyncChat(socket, map)
    {
        protected override void HandleConnect()
        {
        }

        protected override void HandleTlsHandshakeComplete()
        {
            outcome.End("complete");
            Close();
        }

        protected override void HandleTlsHandshakeFailed(Exception error) => outcome.End($"failed {error.GetType().Name}: {error.Message}");

        protected internal override void HandleClose()
        {
            outcome.End("closed");
            base.HandleClose();
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
        }
    }
}
