using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Authentication;
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

    private readonly ConditionalWeakTable<X509Certificate, OpenSslCredential> _selected = [];

    private OpenSslContext(SslServerAuthenticationOptions options)
    {
        IsServer = true;
        ValidationCallback = options.RemoteCertificateValidationCallback;
        ChainPolicy = options.CertificateChainPolicy;
        RevocationMode = options.CertificateRevocationCheckMode;
        ClientCertificateRequired = options.ClientCertificateRequired;
        // SslStream's order: a certificate context, else the selection callback, else the certificate.
        OpenSslCredential? fixedCredential = null;
        if (options.ServerCertificateContext is { } context)
        {
            fixedCredential = new OpenSslCredential(context.TargetCertificate, context.IntermediateCertificates);
        }
        else if (options.ServerCertificateSelectionCallback is { } select)
        {
            CertificateSelectionCallback = select;
        }
        else
        {
            fixedCredential = options.ServerCertificate is { } server
                ? OpenSslCredential.From(server)
                : throw new ArgumentException("A server needs ServerCertificate, ServerCertificateContext or ServerCertificateSelectionCallback.", nameof(options));
        }

        Handle = NewContext(options.EnabledSslProtocols, options.CipherSuitesPolicy);
        nint ctx = Handle.DangerousGetHandle();
        if (options.CipherSuitesPolicy is null)
        {
            // The server policy both engines share (ServerTlsPolicy): forward-secret AEAD suites only.
            if (LibSsl.SslCtxSetCipherList(ctx, ServerTlsPolicy.OpenSslTls12) != 1 || LibSsl.SslCtxSetCiphersuites(ctx, ServerTlsPolicy.OpenSslTls13) != 1)
            {
                Handle.Dispose();
                throw OpenSslLibrary.SetupError("SSL_CTX_set_cipher_list");
            }
        }

        // The server's order of preference, as nginx's ssl_prefer_server_ciphers and SslStream.
        LibSsl.SslCtxSetOptions(ctx, LibSsl.SSL_OP_CIPHER_SERVER_PREFERENCE);
        if (fixedCredential is not null)
        {
            using (fixedCredential)
            {
                fixedCredential.Install(ctx);
            }
        }
        else
        {
            // Called once the ClientHello is read, so the SNI name is known (OpenResty's
            // ssl_certificate_by_lua_block and Kestrel's ServerCertificateSelector choose at the same point).
            LibSsl.SslCtxSetCertCb(ctx, &OpenSslEngine.CertificateCallback, 0);
        }

        fixed (byte* sid = SessionIdContext)
        {
            LibSsl.SslCtxSetSessionIdContext(ctx, sid, (uint)SessionIdContext.Length);
        }

        if (options.AllowTlsResume)
        {
            // nginx's default (ssl_session_cache none, ssl_session_tickets on): resumption by stateless
            // tickets sealed with this context's own random key, and no session kept in server memory.
            LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_SET_SESS_CACHE_MODE, LibSsl.SSL_SESS_CACHE_SERVER | LibSsl.SSL_SESS_CACHE_NO_INTERNAL_STORE, 0);
        }
        else
        {
            // nginx's ssl_session_cache off + ssl_session_tickets off: every handshake is a full one and
            // no ticket is sent (TLS 1.3 would otherwise send two after each handshake).
            LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_SET_SESS_CACHE_MODE, LibSsl.SSL_SESS_CACHE_OFF, 0);
            LibSsl.SslCtxSetOptions(ctx, LibSsl.SSL_OP_NO_TICKET);
            LibSsl.SslCtxSetNumTickets(ctx, 0);
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
        ClientCertificates = options.ClientCertificates;
        Handle = NewContext(options.EnabledSslProtocols, options.CipherSuitesPolicy);
        nint ctx = Handle.DangerousGetHandle();
        if (options.ClientCertificateContext is null && options.LocalCertificateSelectionCallback is { } select)
        {
            // Asked when the server requests a certificate, with the server's certificate and acceptable issuers.
            ClientCertificateSelectionCallback = select;
            LibSsl.SslCtxSetCertCb(ctx, &OpenSslEngine.CertificateCallback, 0);
        }
        else
        {
            using OpenSslCredential? credential = options.ClientCertificateContext is { } context
                ? new OpenSslCredential(context.TargetCertificate, context.IntermediateCertificates)
                : FirstWithKey(options.ClientCertificates) is { } client ? new OpenSslCredential(client, []) : null;
            credential?.Install(ctx);
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

    /// <summary>The server's ServerCertificateSelectionCallback, asked per session with the SNI name; null with a fixed certificate.</summary>
    internal ServerCertificateSelectionCallback? CertificateSelectionCallback { get; }

    /// <summary>The client's LocalCertificateSelectionCallback, asked when the server requests a certificate.</summary>
    internal LocalCertificateSelectionCallback? ClientCertificateSelectionCallback { get; }

    /// <summary>The client's ClientCertificates, handed to <see cref="ClientCertificateSelectionCallback"/>.</summary>
    internal X509CertificateCollection? ClientCertificates { get; }

    /// <summary>The server asks for a client certificate.</summary>
    internal bool ClientCertificateRequired { get; }

    /// <summary>The options' validation callback, or null for "accept only when there is no policy error".</summary>
    internal RemoteCertificateValidationCallback? ValidationCallback { get; }

    /// <summary>
    /// The options' chain policy (trust store, revocation), used as given: downloads and online revocation it
    /// allows run on the loop's thread and block the loop while they last. Null: <see cref="PeerChainPolicy"/>'s,
    /// which never touches the network.
    /// </summary>
    internal X509ChainPolicy? ChainPolicy { get; }

    /// <summary>Revocation checking when there is no <see cref="ChainPolicy"/>; Online is checked offline (<see cref="PeerChainPolicy.WithoutFetching"/>).</summary>
    internal X509RevocationMode RevocationMode { get; }

    /// <summary>
    /// The credential for a certificate the selection callback chose, made on its first use and kept with the
    /// context as long as the certificate object lives, so a handshake does not re-export the key.
    /// </summary>
    internal OpenSslCredential CredentialFor(X509Certificate certificate) =>
        _selected.GetValue(certificate, static c => OpenSslCredential.From(c));

    /// <summary>The shared context for a server options object, built on first use.</summary>
    internal static OpenSslContext For(SslServerAuthenticationOptions options) =>
        s_server.GetValue(options, static o => new OpenSslContext(o));

    /// <summary>The shared context for a client options object, built on first use.</summary>
    internal static OpenSslContext For(SslClientAuthenticationOptions options) =>
        s_client.GetValue(options, static o => new OpenSslContext(o));

    private static SafeSslContextHandle NewContext(SslProtocols enabled, CipherSuitesPolicy? policy)
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
        if (policy is not null)
        {
            try
            {
                ApplyCipherSuites(ctx, policy, min, max);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        return handle;
    }

    /// <summary>
    /// CipherSuitesPolicy as OpenSSL lists: TLS 1.3 suites (0x13xx) by SSL_CTX_set_ciphersuites, the others
    /// by SSL_CTX_set_cipher_list under OpenSSL's names, found by IANA number among the ciphers the library
    /// knows. A version left with no suite is switched off, as SslStream does on Linux.
    /// </summary>
    private static void ApplyCipherSuites(nint ctx, CipherSuitesPolicy policy, int min, int max)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("CipherSuitesPolicy is not available on Windows.");
        }

        var wanted = new HashSet<ushort>();
        foreach (TlsCipherSuite suite in policy.AllowedCipherSuites)
        {
            wanted.Add((ushort)suite);
        }

        // Every cipher this libssl has, each with its IANA number and its OpenSSL name.
        if (LibSsl.SslCtxSetCipherList(ctx, "ALL:COMPLEMENTOFALL") != 1)
        {
            throw OpenSslLibrary.SetupError("SSL_CTX_set_cipher_list");
        }

        var tls13 = new List<string>();
        var tls12 = new List<string>();
        nint known = LibSsl.SslCtxGetCiphers(ctx);
        for (int i = 0, count = known == 0 ? 0 : LibCrypto.SkNum(known); i < count; i++)
        {
            nint cipher = LibCrypto.SkValue(known, i);
            ushort id = LibSsl.SslCipherGetProtocolId(cipher);
            if (wanted.Contains(id) && Marshal.PtrToStringUTF8(LibSsl.SslCipherGetName(cipher)) is { } name)
            {
                (id >> 8 == 0x13 ? tls13 : tls12).Add(name);
            }
        }

        if (tls12.Count == 0 && tls13.Count == 0)
        {
            throw new NotSupportedException("None of the CipherSuitesPolicy's suites is known to this OpenSSL.");
        }

        if (LibSsl.SslCtxSetCiphersuites(ctx, string.Join(':', tls13)) != 1)
        {
            throw OpenSslLibrary.SetupError("SSL_CTX_set_ciphersuites");
        }

        if (tls12.Count > 0)
        {
            if (LibSsl.SslCtxSetCipherList(ctx, string.Join(':', tls12)) != 1)
            {
                throw OpenSslLibrary.SetupError("SSL_CTX_set_cipher_list");
            }
        }
        else
        {
            min = LibSsl.TLS1_3_VERSION;
        }

        if (tls13.Count == 0)
        {
            max = LibSsl.TLS1_2_VERSION;
        }

        if (min > max)
        {
            throw new NotSupportedException("The CipherSuitesPolicy leaves no suite for the enabled TLS versions.");
        }

        LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_SET_MIN_PROTO_VERSION, min, 0);
        LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_SET_MAX_PROTO_VERSION, max, 0);
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
