using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Tls;
using Asyncore.Tls.OpenSsl;

namespace Asyncore.Tests.Tls;

/// <summary>
/// Two OpenSSL engines talking through memory: handshakes (TLS 1.2, 1.3, ALPN, SNI, client certificates,
/// certificate checks), close_notify, bad input, large transfers and the allocation guard.
/// </summary>
public sealed partial class OpenSslEngineTests
{
    private static SslServerAuthenticationOptions ServerOptions(SslProtocols protocols = SslProtocols.None) => new()
    {
        ServerCertificate = TestCertificates.Server,
        EnabledSslProtocols = protocols,
    };

    private static SslClientAuthenticationOptions ClientOptions(string host = "localhost", SslProtocols protocols = SslProtocols.None) => new()
    {
        TargetHost = host,
        EnabledSslProtocols = protocols,
        CertificateChainPolicy = TestCertificates.TrustTestCa(),
    };

    private static (OpenSslEngine Client, OpenSslEngine Server) Connected(SslClientAuthenticationOptions client, SslServerAuthenticationOptions server)
    {
        var c = new OpenSslEngine(client);
        var s = new OpenSslEngine(server);
        TlsPump.Handshake(c, s);
        return (c, s);
    }

    [OpenSslFact]
    public void IsAvailableOnThisSystem()
    {
        Assert.True(OpenSslEngine.IsAvailable);
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public void HandshakeNegotiatesTheVersionAsked(SslProtocols protocol)
    {
        (OpenSslEngine client, OpenSslEngine server) = Connected(ClientOptions(protocols: protocol), ServerOptions());
        using (client)
        using (server)
        {
            Assert.True(client.IsHandshakeComplete);
            Assert.True(server.IsHandshakeComplete);
            Assert.Equal(protocol, client.Protocol);
            Assert.Equal(protocol, server.Protocol);
            Assert.Equal(client.CipherSuite, server.CipherSuite);
            Assert.NotEqual(TlsCipherSuite.TLS_NULL_WITH_NULL_NULL, client.CipherSuite);
            // TLS 1.3 suites are TLS_AES_* / TLS_CHACHA20_*; 1.2 with an RSA certificate means ECDHE_RSA.
            Assert.StartsWith(protocol == SslProtocols.Tls13 ? "TLS_AES_" : "TLS_ECDHE_RSA_", client.CipherSuite.ToString(), StringComparison.Ordinal);
            Assert.Equal(TestCertificates.Server.Thumbprint, client.RemoteCertificate?.Thumbprint);
            Assert.Null(server.RemoteCertificate);
            Assert.Equal(default, client.ApplicationProtocol);
        }
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)]
    [InlineData(SslProtocols.Tls13, TlsCipherSuite.TLS_AES_128_GCM_SHA256)]
    public void CipherSuitesPolicyLimitsTheServersChoice(SslProtocols protocol, TlsCipherSuite expected)
    {
        // OpenSSL's own first choices would be the AES-256 suites; the policy leaves only AES-128 ones.
        SslServerAuthenticationOptions server = ServerOptions();
        server.CipherSuitesPolicy = new CipherSuitesPolicy([TlsCipherSuite.TLS_AES_128_GCM_SHA256, TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]);
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions(protocols: protocol), server);
        using (c)
        using (s)
        {
            Assert.Equal(expected, s.CipherSuite);
            Assert.Equal(expected, c.CipherSuite);
        }
    }

    [OpenSslFact]
    public void CipherSuitesPolicyOnTheClientIsOffered()
    {
        SslClientAuthenticationOptions client = ClientOptions();
        client.CipherSuitesPolicy = new CipherSuitesPolicy([TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256]);
        (OpenSslEngine c, OpenSslEngine s) = Connected(client, ServerOptions());
        using (c)
        using (s)
        {
            Assert.Equal(SslProtocols.Tls13, s.Protocol);
            Assert.Equal(TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, s.CipherSuite);
        }
    }

    [OpenSslFact]
    public void ServerLimitedToTls12RefusesATls13OnlyClient()
    {
        using var client = new OpenSslEngine(ClientOptions(protocols: SslProtocols.Tls13));
        using var server = new OpenSslEngine(ServerOptions(SslProtocols.Tls12));
        var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(client, server));
        Assert.True(e.Message.Contains("protocol", StringComparison.OrdinalIgnoreCase), e.Message);
    }

    [OpenSslFact]
    public void AlpnChoosesTheServersPreference()
    {
        SslServerAuthenticationOptions server = ServerOptions();
        server.ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];
        SslClientAuthenticationOptions client = ClientOptions();
        client.ApplicationProtocols = [new SslApplicationProtocol("smtp"), SslApplicationProtocol.Http11, SslApplicationProtocol.Http2];
        (OpenSslEngine c, OpenSslEngine s) = Connected(client, server);
        using (c)
        using (s)
        {
            Assert.Equal(SslApplicationProtocol.Http2, s.ApplicationProtocol);
            Assert.Equal(SslApplicationProtocol.Http2, c.ApplicationProtocol);
        }
    }

    [OpenSslFact]
    public void AlpnCustomProtocolIsReported()
    {
        SslServerAuthenticationOptions server = ServerOptions();
        server.ApplicationProtocols = [new SslApplicationProtocol("imap")];
        SslClientAuthenticationOptions client = ClientOptions();
        client.ApplicationProtocols = [new SslApplicationProtocol("imap")];
        (OpenSslEngine c, OpenSslEngine s) = Connected(client, server);
        using (c)
        using (s)
        {
            Assert.Equal("imap", s.ApplicationProtocol.ToString());
            Assert.Equal("imap", c.ApplicationProtocol.ToString());
        }
    }

    [OpenSslFact]
    public void AlpnWithoutOverlapIsAFatalAlert()
    {
        SslServerAuthenticationOptions server = ServerOptions();
        server.ApplicationProtocols = [SslApplicationProtocol.Http2];
        SslClientAuthenticationOptions client = ClientOptions();
        client.ApplicationProtocols = [SslApplicationProtocol.Http11];
        using var c = new OpenSslEngine(client);
        using var s = new OpenSslEngine(server);
        var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(c, s));
        Assert.Contains("no application protocol", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [OpenSslFact]
    public void ServerSeesTheNameTheClientAskedFor()
    {
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions("example.test"), ServerOptions());
        using (c)
        using (s)
        {
            Assert.Equal("example.test", s.TargetHostName);
            Assert.Equal("example.test", c.TargetHostName);
        }
    }

    [OpenSslFact]
    public void AnIpAddressIsCheckedButNotSentAsSni()
    {
        (OpenSslEngine c, OpenSslEngine s) = Connected(ClientOptions("127.0.0.1"), ServerOptions());
        using (c)
        using (s)
        {
            Assert.Null(s.TargetHostName);
            Assert.True(c.IsHandshakeComplete);
        }
    }

    [OpenSslFact]
    public void UntrustedServerCertificateIsRejectedByDefault()
    {
        var server = new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.SelfSigned };
        using var c = new OpenSslEngine(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        using var s = new OpenSslEngine(server);
        var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(c, s));
        Assert.Contains("RemoteCertificateChainErrors", e.Message, StringComparison.Ordinal);
        Assert.Contains("certificate verify failed", e.Message, StringComparison.Ordinal);
    }

    [OpenSslFact]
    public void WrongHostNameIsRejected()
    {
        using var c = new OpenSslEngine(ClientOptions("other.test"));
        using var s = new OpenSslEngine(ServerOptions());
        var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(c, s));
        Assert.Contains("RemoteCertificateNameMismatch", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ChainErrors", e.Message, StringComparison.Ordinal);
    }

    [OpenSslFact]
    public void ValidationCallbackSeesThePolicyErrorsAndDecides()
    {
        SslPolicyErrors seen = (SslPolicyErrors)(-1);
        object? sender = null;
        string? subject = null;
        var client = new SslClientAuthenticationOptions
        {
            TargetHost = "other.test",
            RemoteCertificateValidationCallback = (o, certificate, chain, errors) =>
            {
                sender = o;
                seen = errors;
                subject = certificate?.Subject;
                return true;
            },
        };
        var owner = new object();
        using var c = new OpenSslEngine(client, owner);
        using var s = new OpenSslEngine(new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.SelfSigned });
        TlsPump.Handshake(c, s);
        Assert.Same(owner, sender);
        Assert.Equal(SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch, seen);
        Assert.Equal("CN=localhost", subject);
    }

    [OpenSslFact]
    public void ValidationCallbackThatThrowsFailsTheHandshakeWithItsException()
    {
        var client = ClientOptions();
        client.RemoteCertificateValidationCallback = (_, _, _, _) => throw new InvalidOperationException("policy store is down");
        using var c = new OpenSslEngine(client);
        using var s = new OpenSslEngine(ServerOptions());
        var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(c, s));
        Assert.IsType<InvalidOperationException>(e.InnerException);
        Assert.Contains("policy store is down", e.Message, StringComparison.Ordinal);
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public void ClientCertificateIsSentAndChecked(SslProtocols protocol)
    {
        X509Certificate? seenByServer = null;
        SslServerAuthenticationOptions server = ServerOptions(protocol);
        server.ClientCertificateRequired = true;
        server.CertificateChainPolicy = TestCertificates.TrustTestCa();
        server.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            seenByServer = certificate;
            return errors == SslPolicyErrors.None;
        };
        SslClientAuthenticationOptions client = ClientOptions();
        client.ClientCertificates = [TestCertificates.Client];
        (OpenSslEngine c, OpenSslEngine s) = Connected(client, server);
        using (c)
        using (s)
        {
            Assert.Equal(TestCertificates.Client.Thumbprint, s.RemoteCertificate?.Thumbprint);
            Assert.Equal(TestCertificates.Client.Thumbprint, (seenByServer as X509Certificate2)?.Thumbprint);
            AssertExchange(c, s, "after client auth"u8.ToArray());
        }
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public void TheClientsSelectionCallbackChoosesWhenTheServerAsks(SslProtocols protocol)
    {
        var calls = new List<(string Host, string? Remote, int Local)>();
        SslServerAuthenticationOptions server = ServerOptions(protocol);
        server.ClientCertificateRequired = true;
        server.CertificateChainPolicy = TestCertificates.TrustTestCa();
        SslClientAuthenticationOptions client = ClientOptions();
        client.ClientCertificates = [TestCertificates.SelfSigned, TestCertificates.Client];
        client.LocalCertificateSelectionCallback = (_, host, local, remote, issuers) =>
        {
            calls.Add((host, (remote as X509Certificate2)?.Thumbprint, local.Count));
            return local[1];
        };
        (OpenSslEngine c, OpenSslEngine s) = Connected(client, server);
        using (c)
        using (s)
        {
            Assert.Equal(TestCertificates.Client.Thumbprint, s.RemoteCertificate?.Thumbprint);
        }

        Assert.Equal([("localhost", TestCertificates.Server.Thumbprint, 2)], calls);

        // Not asked when the server does not request a certificate.
        (c, s) = Connected(client, ServerOptions(protocol));
        c.Dispose();
        s.Dispose();
        Assert.Single(calls);
    }

    [OpenSslFact]
    public void MissingClientCertificateFailsWithoutACallback()
    {
        SslServerAuthenticationOptions server = ServerOptions(SslProtocols.Tls12);
        server.ClientCertificateRequired = true;
        using var c = new OpenSslEngine(ClientOptions());
        using var s = new OpenSslEngine(server);
        var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(c, s));
        Assert.Contains("certificate", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [OpenSslTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void MissingClientCertificateIsTheCallbacksCall(bool accept)
    {
        SslPolicyErrors seen = SslPolicyErrors.None;
        SslServerAuthenticationOptions server = ServerOptions(SslProtocols.Tls13);
        server.ClientCertificateRequired = true;
        server.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            seen = errors;
            return accept;
        };
        using var c = new OpenSslEngine(ClientOptions());
        using var s = new OpenSslEngine(server);
        if (accept)
        {
            TlsPump.Handshake(c, s);
            Assert.Null(s.RemoteCertificate);
        }
        else
        {
            var e = Assert.Throws<AuthenticationException>(() => TlsPump.Handshake(c, s));
            Assert.Contains("RemoteCertificateNotAvailable", e.Message, StringComparison.Ordinal);
        }

        Assert.Equal(SslPolicyErrors.RemoteCertificateNotAvailable, seen);
    }

}
