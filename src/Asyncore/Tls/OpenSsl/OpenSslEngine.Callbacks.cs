using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Asyncore.Tls.OpenSsl;

/// <summary>The calls OpenSSL makes back into the engine during SSL_do_handshake: certificate check and ALPN choice.</summary>
internal sealed unsafe partial class OpenSslEngine
{
    /// <summary>
    /// SSL_CTX_set_cert_verify_callback: replaces OpenSSL's own chain check with .NET's, on the engine whose
    /// SSL is being verified (found through the store context's SSL and that SSL's ex_data). 1 accepts.
    /// </summary>
    [UnmanagedCallersOnly]
    internal static int VerifyCallback(nint storeContext, nint arg)
    {
        try
        {
            nint ssl = LibCrypto.X509StoreCtxGetExData(storeContext, LibSsl.SslGetExDataX509StoreCtxIdx());
            return FromSsl(ssl) is { } engine ? engine.VerifyPeer(storeContext) : 0;
        }
        catch (Exception)
        {
            // Nothing may unwind into OpenSSL; VerifyPeer keeps its own exceptions for the caller.
            return 0;
        }
    }

    /// <summary>
    /// SSL_CTX_set_alpn_select_cb: the first protocol of the server's list that the client offered. No overlap
    /// is a fatal no_application_protocol alert (RFC 7301 section 3.2).
    /// </summary>
    [UnmanagedCallersOnly]
    internal static int AlpnSelectCallback(nint ssl, byte** selected, byte* selectedLength, byte* offered, uint offeredLength, nint arg)
    {
        try
        {
            byte[]? preferred = FromSsl(ssl)?._context.AlpnProtocols;
            if (preferred is null)
            {
                return LibSsl.SSL_TLSEXT_ERR_ALERT_FATAL;
            }

            var client = new ReadOnlySpan<byte>(offered, (int)offeredLength);
            for (int s = 0; s < preferred.Length; s += 1 + preferred[s])
            {
                ReadOnlySpan<byte> wanted = preferred.AsSpan(s + 1, preferred[s]);
                for (int c = 0; c < client.Length; c += 1 + client[c])
                {
                    int length = client[c];
                    if (c + 1 + length <= client.Length && client.Slice(c + 1, length).SequenceEqual(wanted))
                    {
                        // Points into OpenSSL's own copy of the ClientHello, which it duplicates on return.
                        *selected = offered + c + 1;
                        *selectedLength = (byte)length;
                        return LibSsl.SSL_TLSEXT_ERR_OK;
                    }
                }
            }

            return LibSsl.SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        catch (Exception)
        {
            return LibSsl.SSL_TLSEXT_ERR_ALERT_FATAL;
        }
    }

    /// <summary>
    /// SSL_CTX_set_cert_cb: on a server with a ServerCertificateSelectionCallback, asks it for the certificate
    /// of the name the client sent (null without SNI); on a client with a LocalCertificateSelectionCallback,
    /// asks it when the server requests a certificate. The choice is installed on this session. 1 goes on.
    /// </summary>
    [UnmanagedCallersOnly]
    internal static int CertificateCallback(nint ssl, nint arg)
    {
        try
        {
            return FromSsl(ssl) is not { } engine ? 0
                : engine._context.IsServer ? engine.SelectCertificate()
                : engine.SelectClientCertificate();
        }
        catch (Exception)
        {
            return 0;
        }
    }

    private int SelectCertificate()
    {
        try
        {
            nint name = LibSsl.SslGetServername(_ssl, LibSsl.TLSEXT_NAMETYPE_host_name);
            string? host = name == 0 ? null : Marshal.PtrToStringUTF8(name);
            X509Certificate? chosen = _context.CertificateSelectionCallback!(_sender, host);
            if (chosen is null)
            {
                _callbackError = new AuthenticationException($"ServerCertificateSelectionCallback gave no certificate for {host ?? "a client without SNI"}.");
                return 0;
            }

            _context.CredentialFor(chosen).InstallOn(_ssl);
            return 1;
        }
        catch (Exception e)
        {
            _callbackError = e;
            return 0;
        }
    }

    private int SelectClientCertificate()
    {
        try
        {
            nint peer = LibSsl.SslGet0PeerCertificate(_ssl);
            X509Certificate2? server = peer == 0 ? null : ToManaged(peer);
            X509Certificate? chosen = _context.ClientCertificateSelectionCallback!(
                _sender, _targetHost ?? string.Empty, _context.ClientCertificates ?? [], server, AcceptableIssuers());
            // No certificate (or one without its key) is a valid answer: the server decides whether that will do.
            if (chosen is X509Certificate2 { HasPrivateKey: true })
            {
                _context.CredentialFor(chosen).InstallOn(_ssl);
            }

            return 1;
        }
        catch (Exception e)
        {
            _callbackError = e;
            return 0;
        }
    }

    /// <summary>The CA names of the server's CertificateRequest, as SslStream gives them (X500DistinguishedName.Name).</summary>
    private string[] AcceptableIssuers()
    {
        nint names = LibSsl.SslGetClientCaList(_ssl);
        int count = names == 0 ? 0 : LibCrypto.SkNum(names);
        string[] issuers = new string[count];
        for (int i = 0; i < count; i++)
        {
            nint name = LibCrypto.SkValue(names, i);
            int length = LibCrypto.I2dX509Name(name, null);
            byte[] der = new byte[Math.Max(length, 0)];
            fixed (byte* start = der)
            {
                byte* p = start;
                LibCrypto.I2dX509Name(name, &p);
            }

            issuers[i] = new X500DistinguishedName(der).Name;
        }

        return issuers;
    }

    private static OpenSslEngine? FromSsl(nint ssl)
    {
        nint cookie = ssl == 0 ? 0 : LibSsl.SslGetExData(ssl, OpenSslLibrary.SslIndex);
        return cookie == 0 ? null : GCHandle.FromIntPtr(cookie).Target as OpenSslEngine;
    }

    /// <summary>
    /// The peer's chain, checked as SslStream checks it: an X509Chain built with the certificates the peer
    /// sent as extra store, the server name matched against TargetHost, then the options' callback (or
    /// "no policy errors") decides. This runs on the loop's thread: without a ChainPolicy in the options the
    /// chain is built from what the peer sent and this machine holds, with no download
    /// (<see cref="PeerChainPolicy"/>); a ChainPolicy given is used as given.
    /// </summary>
    private int VerifyPeer(nint storeContext)
    {
        X509Chain? chain = null;
        X509Certificate2? leaf = null;
        int given = 0;
        try
        {
            leaf = ToManaged(LibCrypto.X509StoreCtxGet0Cert(storeContext));
            chain = new X509Chain
            {
                ChainPolicy = _context.ChainPolicy?.Clone() ?? PeerChainPolicy.Create(_context.IsServer, _context.RevocationMode),
            };

            // A clone shares the options' certificates: only those added below are this check's to dispose.
            given = chain.ChainPolicy.ExtraStore.Count;
            nint sent = LibCrypto.X509StoreCtxGet0Untrusted(storeContext);
            int count = sent == 0 ? 0 : LibCrypto.SkNum(sent);
            for (int i = 0; i < count; i++)
            {
                nint x509 = LibCrypto.SkValue(sent, i);
                if (x509 != 0)
                {
                    chain.ChainPolicy.ExtraStore.Add(ToManaged(x509));
                }
            }

            var errors = SslPolicyErrors.None;
            if (!chain.Build(leaf))
            {
                errors |= SslPolicyErrors.RemoteCertificateChainErrors;
            }

            if (!_context.IsServer && _targetHost is not null && !MatchesHostname(leaf, _targetHost))
            {
                errors |= SslPolicyErrors.RemoteCertificateNameMismatch;
            }

            _remoteCertificate = leaf;
            _remoteCertificateRead = true;
            bool accepted = _context.ValidationCallback is { } callback
                ? callback(_sender, leaf, chain, errors)
                : errors == SslPolicyErrors.None;
            if (accepted)
            {
                return 1;
            }

            _rejection = Describe(errors, chain);
            LibCrypto.X509StoreCtxSetError(
                storeContext,
                (errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0 ? LibCrypto.X509_V_ERR_CERT_UNTRUSTED
                : (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 ? LibCrypto.X509_V_ERR_HOSTNAME_MISMATCH
                : LibCrypto.X509_V_ERR_APPLICATION_VERIFICATION);
            return 0;
        }
        catch (Exception e)
        {
            _callbackError = e;
            LibCrypto.X509StoreCtxSetError(storeContext, LibCrypto.X509_V_ERR_APPLICATION_VERIFICATION);
            return 0;
        }
        finally
        {
            if (chain is not null)
            {
                foreach (X509ChainElement element in chain.ChainElements)
                {
                    if (!ReferenceEquals(element.Certificate, leaf))
                    {
                        element.Certificate.Dispose();
                    }
                }

                X509Certificate2Collection extras = chain.ChainPolicy.ExtraStore;
                for (int i = given; i < extras.Count; i++)
                {
                    extras[i].Dispose();
                }

                chain.Dispose();
            }
        }
    }

    /// <summary>
    /// A server that asked for a client certificate and got none: the callback decides, as SslStream asks it
    /// with <see cref="SslPolicyErrors.RemoteCertificateNotAvailable"/> (without a callback OpenSSL already
    /// refused the handshake: SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
    /// </summary>
    private void CheckMissingClientCertificate()
    {
        if (!_context.IsServer || !_context.ClientCertificateRequired || _context.ValidationCallback is not { } callback || RemoteCertificate is not null)
        {
            return;
        }

        bool accepted;
        try
        {
            accepted = callback(_sender, null, null, SslPolicyErrors.RemoteCertificateNotAvailable);
        }
        catch (Exception e)
        {
            _failed = true;
            throw new AuthenticationException($"The remote certificate validation callback threw: {e.Message}", e);
        }

        if (!accepted)
        {
            _failed = true;
            throw new AuthenticationException("The remote certificate was rejected: RemoteCertificateNotAvailable (the client sent no certificate).");
        }
    }

    private static bool MatchesHostname(X509Certificate2 certificate, string host)
    {
        try
        {
            return certificate.MatchesHostname(host);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static string Describe(SslPolicyErrors errors, X509Chain chain)
    {
        var text = new StringBuilder("The remote certificate was rejected: ").Append(errors);
        foreach (X509ChainStatus status in chain.ChainStatus)
        {
            text.Append("; ").Append(status.Status).Append(": ").Append(status.StatusInformation.Trim());
        }

        return text.ToString();
    }

    /// <summary>An X509* (not consumed) as an X509Certificate2, through its DER encoding.</summary>
    internal static X509Certificate2 ToManaged(nint x509)
    {
        if (x509 == 0)
        {
            throw new CryptographicException("OpenSSL gave no certificate.");
        }

        int length = LibCrypto.I2dX509(x509, null);
        if (length <= 0)
        {
            throw new CryptographicException($"i2d_X509 failed: {OpenSslLibrary.DrainErrors()}");
        }

        byte[] der = new byte[length];
        fixed (byte* start = der)
        {
            byte* p = start;
            LibCrypto.I2dX509(x509, &p);
        }

        return X509CertificateLoader.LoadCertificate(der);
    }
}
