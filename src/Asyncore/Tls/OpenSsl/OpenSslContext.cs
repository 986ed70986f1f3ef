using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tls.OpenSsl;

/// <summary>
/// One SSL_CTX built from a .NET options object and shared by every session made from that same object
/// (nginx builds one per server block; here a listener reuses its options), so a server does not rebuild
/// the context, re-export the key or re-parse the chain per connection.
/// </summary>
/// <remarks>
/// The cache is keyed by the options instance and holds it weakly: the context is freed with the last
/// session after the options object is collected. Changing an options object after its first session is
/// not seen by later sessions; make a new options object instead.
/// </remarks>
internal sealed unsafe class OpenSslContext
{
    private static readonly ConditionalWeakTable<SslServerAuthenticationOptions, OpenSslContext> s_server = [];
    private static readonly ConditionalWeakTable<SslClientAuthenticationOptions, OpenSslContext> s_client = [];

    /// <summary>SSL_CTX_set_session_id_context: needed for resumption once client certificates are verified.</summary>
    private static ReadOnlySpan<byte> SessionIdContext => "Asyncore"u8;

    private OpenSslContext(SslServerAuthenticationOptions options)
    {
        IsServer = true;
        ValidationCallback = options.RemoteCertificateValidationCallback;
        ChainPolicy = options.CertificateChainPolicy;
        RevocationMode = options.CertificateRevocationCheckMode;
        ClientCertificateRequired = options.ClientCertificateRequired;
        if (options.ServerCertificateSelectionCallback is not null)
        {
            throw new NotSupportedException("The OpenSSL engine does not support ServerCertificateSelectionCallback; use SslStream.");
        }

        RejectCipherSuitesPolicy(options.CipherSuitesPolicy);
        SslStreamCertificateContext certificate = options.ServerCertificateContext
            ?? (options.ServerCertificate is X509Certificate2 server
                ? SslStreamCertificateContext.Create(server, additionalCertificates: null, offline: true)
                : throw new ArgumentException("A server needs ServerCertificate (an X509Certificate2 with its private key) or ServerCertificateContext.", nameof(options)));

        Handle = NewContext(options.EnabledSslProtocols);
        nint ctx = Handle.DangerousGetHandle();
        UseCertificate(ctx, certificate.TargetCertificate, certificate.IntermediateCertificates);
        fixed (byte* sid = SessionIdContext)
        {
            LibSsl.SslCtxSetSessionIdContext(ctx, sid, (uint)SessionIdContext.Length);
        }

        // nginx and Postfix refuse client-initiated renegotiation; SslStream's server default
        // (AllowRenegotiation = false) says the same.
        if (!options.AllowRenegotiation)
        {
            LibSsl.SslCtxSetOptions(ctx, LibSsl.SSL_OP_NO_RENEGOTIATION);
        }

        if (ClientCertificateRequired)
        {
            // Without a callback a missing certificate is fatal at once; with one, the callback decides
            // after the handshake (SslStream asks it with RemoteCertificateNotAvailable).
            int mode = LibSsl.SSL_VERIFY_PEER | (ValidationCallback is null ? LibSsl.SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
            LibSsl.SslCtxSetVerify(ctx, mode, 0);
            LibSsl.SslCtxSetCertVerifyCallback(ctx, &OpenSslEngine.VerifyCallback, 0);
        }

        if (options.ApplicationProtocols is { Count: > 0 } protocols)
        {
            AlpnProtocols = ToWireFormat(protocols);
            LibSsl.SslCtxSetAlpnSelectCb(ctx, &OpenSslEngine.AlpnSelectCallback, 0);
        }
    }

    private OpenSslContext(SslClientAuthenticationOptions options)
    {
        ValidationCallback = options.RemoteCertificateValidationCallback;
        ChainPolicy = options.CertificateChainPolicy;
        RevocationMode = options.CertificateRevocationCheckMode;
        if (options.LocalCertificateSelectionCallback is not null)
        {
            throw new NotSupportedException("The OpenSSL engine does not support LocalCertificateSelectionCallback; use SslStream.");
        }

        RejectCipherSuitesPolicy(options.CipherSuitesPolicy);
        Handle = NewContext(options.EnabledSslProtocols);
        nint ctx = Handle.DangerousGetHandle();
        if (options.ClientCertificateContext is { } context)
        {
            UseCertificate(ctx, context.TargetCertificate, context.IntermediateCertificates);
        }
        else if (FirstWithKey(options.ClientCertificates) is { } client)
        {
            UseCertificate(ctx, client, []);
        }

        if (!options.AllowRenegotiation)
        {
            LibSsl.SslCtxSetOptions(ctx, LibSsl.SSL_OP_NO_RENEGOTIATION);
        }

        // The server's certificate is always checked, by .NET's X509Chain in VerifyCallback (the same
        // policy errors SslStream reports), not by OpenSSL's store.
        LibSsl.SslCtxSetVerify(ctx, LibSsl.SSL_VERIFY_PEER, 0);
        LibSsl.SslCtxSetCertVerifyCallback(ctx, &OpenSslEngine.VerifyCallback, 0);
        if (options.ApplicationProtocols is { Count: > 0 } protocols)
        {
            byte[] wire = ToWireFormat(protocols);
            fixed (byte* p = wire)
            {
                if (LibSsl.SslCtxSetAlpnProtos(ctx, p, (uint)wire.Length) != 0)
                {
                    throw OpenSslLibrary.SetupError("SSL_CTX_set_alpn_protos");
                }
            }
        }
    }

    /// <summary>The SSL_CTX.</summary>
    internal SafeSslContextHandle Handle { get; }

    /// <summary>Server side (accept state) or client side (connect state).</summary>
    internal bool IsServer { get; }

    /// <summary>The server's ALPN preference list in wire format (length-prefixed), or null.</summary>
    internal byte[]? AlpnProtocols { get; }

    /// <summary>The server asks for a client certificate.</summary>
    internal bool ClientCertificateRequired { get; }

    /// <summary>The options' validation callback, or null for "accept only when there is no policy error".</summary>
    internal RemoteCertificateValidationCallback? ValidationCallback { get; }

    /// <summary>The options' chain policy (trust store, revocation), or null for the system's.</summary>
    internal X509ChainPolicy? ChainPolicy { get; }

    /// <summary>Revocation checking when there is no <see cref="ChainPolicy"/>.</summary>
    internal X509RevocationMode RevocationMode { get; }

    /// <summary>The shared context for a server options object, built on first use.</summary>
    internal static OpenSslContext For(SslServerAuthenticationOptions options) =>
        s_server.GetValue(options, static o => new OpenSslContext(o));

    /// <summary>The shared context for a client options object, built on first use.</summary>
    internal static OpenSslContext For(SslClientAuthenticationOptions options) =>
        s_client.GetValue(options, static o => new OpenSslContext(o));

    private static void RejectCipherSuitesPolicy(CipherSuitesPolicy? policy)
    {
        if (policy is not null)
        {
            throw new NotSupportedException("The OpenSSL engine does not support CipherSuitesPolicy; use SslStream.");
        }
    }

    private static SafeSslContextHandle NewContext(SslProtocols enabled)
    {
        (int min, int max) = ProtocolRange(enabled);
        nint ctx = LibSsl.SslCtxNew(LibSsl.TlsMethod());
        if (ctx == 0)
        {
            throw OpenSslLibrary.SetupError("SSL_CTX_new");
        }

        var handle = new SafeSslContextHandle(ctx);
        if (LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_SET_MIN_PROTO_VERSION, min, 0) != 1
            || LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_SET_MAX_PROTO_VERSION, max, 0) != 1)
        {
            handle.Dispose();
            throw OpenSslLibrary.SetupError("SSL_CTX_set_min/max_proto_version");
        }

        // RELEASE_BUFFERS: an idle session gives back its 2 x ~17 KiB record buffers (nginx sets it too).
        // ENABLE_PARTIAL_WRITE is left off: a memory BIO never refuses a write, so one SSL_write encrypts a
        // whole span into as many records as it needs; ACCEPT_MOVING_WRITE_BUFFER only guards a retried write.
        LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_MODE, LibSsl.SSL_MODE_RELEASE_BUFFERS | LibSsl.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, 0);
        return handle;
    }

    /// <summary>
    /// The OpenSSL version range for EnabledSslProtocols: None means the system default, here TLS 1.2 and 1.3;
    /// versions older than 1.2 are not offered.
    /// </summary>
    internal static (int Min, int Max) ProtocolRange(SslProtocols enabled)
    {
        if (enabled == SslProtocols.None)
        {
            return (LibSsl.TLS1_2_VERSION, LibSsl.TLS1_3_VERSION);
        }

        bool tls12 = (enabled & SslProtocols.Tls12) != 0;
        bool tls13 = (enabled & SslProtocols.Tls13) != 0;
        if (!tls12 && !tls13)
        {
            throw new NotSupportedException($"The OpenSSL engine speaks TLS 1.2 and TLS 1.3 only, not {enabled}.");
        }

        return (tls12 ? LibSsl.TLS1_2_VERSION : LibSsl.TLS1_3_VERSION, tls13 ? LibSsl.TLS1_3_VERSION : LibSsl.TLS1_2_VERSION);
    }

    private static X509Certificate2? FirstWithKey(X509CertificateCollection? certificates)
    {
        if (certificates is null)
        {
            return null;
        }

        foreach (X509Certificate certificate in certificates)
        {
            if (certificate is X509Certificate2 { HasPrivateKey: true } withKey)
            {
                return withKey;
            }
        }

        return null;
    }

    /// <summary>The certificate, its private key (through PKCS#8 DER) and the intermediates, into the context.</summary>
    private static void UseCertificate(nint ctx, X509Certificate2 certificate, IReadOnlyList<X509Certificate2> intermediates)
    {
        nint x509 = ToNative(certificate);
        try
        {
            if (LibSsl.SslCtxUseCertificate(ctx, x509) != 1)
            {
                throw OpenSslLibrary.SetupError("SSL_CTX_use_certificate");
            }
        }
        finally
        {
            LibCrypto.X509Free(x509);
        }

        nint key = ToNativeKey(certificate);
        try
        {
            if (LibSsl.SslCtxUsePrivateKey(ctx, key) != 1 || LibSsl.SslCtxCheckPrivateKey(ctx) != 1)
            {
                throw OpenSslLibrary.SetupError("SSL_CTX_use_PrivateKey");
            }
        }
        finally
        {
            LibCrypto.EvpPKeyFree(key);
        }

        foreach (X509Certificate2 intermediate in intermediates)
        {
            nint chain = ToNative(intermediate);
            try
            {
                // SSL_CTX_add1_chain_cert: larg 1 takes its own reference.
                if (LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_CHAIN_CERT, 1, chain) != 1)
                {
                    throw OpenSslLibrary.SetupError("SSL_CTX_add1_chain_cert");
                }
            }
            finally
            {
                LibCrypto.X509Free(chain);
            }
        }
    }

    /// <summary>An X509* parsed from the certificate's DER; the caller frees it.</summary>
    internal static nint ToNative(X509Certificate2 certificate)
    {
        ReadOnlySpan<byte> der = certificate.RawDataMemory.Span;
        fixed (byte* start = der)
        {
            byte* p = start;
            nint x509 = LibCrypto.D2iX509(0, &p, der.Length);
            return x509 != 0 ? x509 : throw OpenSslLibrary.SetupError("d2i_X509");
        }
    }

    /// <summary>An EVP_PKEY* from the certificate's private key exported as PKCS#8 DER; the caller frees it.</summary>
    private static nint ToNativeKey(X509Certificate2 certificate)
    {
        if (!certificate.HasPrivateKey)
        {
            throw new NotSupportedException($"The certificate {certificate.Subject} has no private key.");
        }

        using AsymmetricAlgorithm key = (AsymmetricAlgorithm?)certificate.GetRSAPrivateKey()
            ?? (AsymmetricAlgorithm?)certificate.GetECDsaPrivateKey()
            ?? (AsymmetricAlgorithm?)certificate.GetDSAPrivateKey()
            ?? throw new NotSupportedException($"The OpenSSL engine takes RSA, ECDSA and DSA keys; {certificate.Subject} has {certificate.PublicKey.Oid.FriendlyName}.");
        byte[] pkcs8 = key.ExportPkcs8PrivateKey();
        try
        {
            fixed (byte* start = pkcs8)
            {
                byte* p = start;
                nint info = LibCrypto.D2iPkcs8PrivKeyInfo(0, &p, pkcs8.Length);
                if (info == 0)
                {
                    throw OpenSslLibrary.SetupError("d2i_PKCS8_PRIV_KEY_INFO");
                }

                nint pkey = LibCrypto.EvpPkcs82PKey(info);
                LibCrypto.Pkcs8PrivKeyInfoFree(info);
                return pkey != 0 ? pkey : throw OpenSslLibrary.SetupError("EVP_PKCS82PKEY");
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    /// <summary>ALPN's wire format: each protocol as one length byte and its bytes, in preference order.</summary>
    private static byte[] ToWireFormat(List<SslApplicationProtocol> protocols)
    {
        int length = 0;
        foreach (SslApplicationProtocol protocol in protocols)
        {
            int size = protocol.Protocol.Length;
            if (size is 0 or > 255)
            {
                throw new ArgumentException($"An ALPN protocol name is 1 to 255 bytes, not {size}.", nameof(protocols));
            }

            length += 1 + size;
        }

        byte[] wire = new byte[length];
        int at = 0;
        foreach (SslApplicationProtocol protocol in protocols)
        {
            wire[at++] = (byte)protocol.Protocol.Length;
            protocol.Protocol.Span.CopyTo(wire.AsSpan(at));
            at += protocol.Protocol.Length;
        }

        return wire;
    }
}
