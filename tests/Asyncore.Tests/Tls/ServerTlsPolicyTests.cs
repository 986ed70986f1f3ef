using Asyncore.Tests.Support;

namespace Asyncore.Tests.Tls;

/// <summary>
/// The server policy a TLS server gets without suites of its own, the same for both engines (CI runs
/// this class again under ASYNCORE_TLS_ENGINE=sslstream): TLS 1.2/1.3, forward-secret AEAD suites only,
/// the server's order.
/// </summary>
public sealed class ServerTlsPolicyTests
{
    private static (int Code, string Out, string Err) Connect(TlsLineServer server, params string[] flags) =>
        Tool.Run("openssl", ["s_client", "-connect", $"127.0.0.1:{server.Address.Port}", "-servername", "localhost", "-brief", .. flags], "QUIT\r\n");

    [NeedsTheory(Outside.OpenSsl)]
    [InlineData("AES128-SHA")]                 // static RSA key exchange, CBC
    [InlineData("AES256-GCM-SHA384")]          // static RSA key exchange: no forward secrecy
    [InlineData("ECDHE-RSA-AES256-SHA384")]    // forward secret, but CBC (LUCKY13)
    [InlineData("ECDHE-RSA-AES128-SHA")]
    public void SuitesWithoutForwardSecrecyOrWithCbcAreRefused(string suite)
    {
        using var server = new TlsLineServer(TestCertificate.Shared.ServerOptions());
        (int code, _, string err) = Connect(server, "-tls1_2", "-cipher", suite);
        Assert.True(code != 0, $"the server agreed to {suite}: {err}");
    }

    [NeedsTheory(Outside.OpenSsl)]
    [InlineData("-tls1")]
    [InlineData("-tls1_1")]
    public void VersionsBeforeTls12AreRefused(string flag)
    {
        using var server = new TlsLineServer(TestCertificate.Shared.ServerOptions());
        (int code, _, string err) = Connect(server, flag, "-cipher", "ALL:@SECLEVEL=0");
        Assert.True(code != 0, $"the server agreed to {flag}: {err}");
    }

    [NeedsFact(Outside.OpenSsl)]
    public void TheServersOrderWins()
    {
        using var server = new TlsLineServer(TestCertificate.Shared.ServerOptions());
        // The client prefers ChaCha20, then AES-256, then AES-128; the server's first choice is AES-128-GCM.
        (int code, _, string err) = Connect(server, "-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256");
        Assert.True(code == 0, err);
        Assert.Contains("Ciphersuite: ECDHE-RSA-AES128-GCM-SHA256", err);
    }

    [NeedsFact(Outside.OpenSsl)]
    public void Tls13StillNegotiates()
    {
        using var server = new TlsLineServer(TestCertificate.Shared.ServerOptions());
        (int code, _, string err) = Connect(server, "-tls1_3");
        Assert.True(code == 0, err);
        Assert.Contains("Protocol version: TLSv1.3", err);
    }
}
