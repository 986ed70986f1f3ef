using System.Runtime.InteropServices;

namespace Asyncore.Tls.OpenSsl;

/// <summary>
/// The libssl imports the engine uses (OpenSSL 3, Debian 12's libssl.so.3). Macros of ssl.h
/// (<c>SSL_CTX_set_min_proto_version</c>, <c>SSL_CTX_set_mode</c>, <c>SSL_set_tlsext_host_name</c>,
/// <c>SSL_CTX_add1_chain_cert</c>) are their <c>SSL_CTX_ctrl</c>/<c>SSL_ctrl</c> calls with the constants below.
/// </summary>
internal static partial class LibSsl
{
    /// <summary>The soname: the 3.x ABI (SSL_get1_peer_certificate and SSL_CTX_set_options are functions there).</summary>
    internal const string Name = "libssl.so.3";

    internal const int SSL_ERROR_NONE = 0;
    internal const int SSL_ERROR_SSL = 1;
    internal const int SSL_ERROR_WANT_READ = 2;
    internal const int SSL_ERROR_WANT_WRITE = 3;
    internal const int SSL_ERROR_SYSCALL = 5;
    internal const int SSL_ERROR_ZERO_RETURN = 6;

    internal const int SSL_CTRL_MODE = 33;
    internal const int SSL_CTRL_SET_SESS_CACHE_MODE = 44;
    internal const int SSL_CTRL_SET_TLSEXT_HOSTNAME = 55;
    internal const int SSL_CTRL_CHAIN_CERT = 89;
    internal const int SSL_CTRL_SET_MIN_PROTO_VERSION = 123;
    internal const int SSL_CTRL_SET_MAX_PROTO_VERSION = 124;

    internal const int SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2;
    internal const int SSL_MODE_RELEASE_BUFFERS = 0x10;

    internal const ulong SSL_OP_NO_TICKET = 1UL << 14;
    internal const ulong SSL_OP_NO_RENEGOTIATION = 1UL << 30;
    internal const ulong SSL_OP_CIPHER_SERVER_PREFERENCE = 1UL << 22;

    internal const int SSL_SESS_CACHE_OFF = 0x0;
    internal const int SSL_SESS_CACHE_SERVER = 0x2;
    internal const int SSL_SESS_CACHE_NO_INTERNAL_STORE = 0x200;

    internal const int TLS1_2_VERSION = 0x0303;
    internal const int TLS1_3_VERSION = 0x0304;

    internal const int SSL_VERIFY_NONE = 0;
    internal const int SSL_VERIFY_PEER = 1;
    internal const int SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 2;

    internal const int SSL_TLSEXT_ERR_OK = 0;
    internal const int SSL_TLSEXT_ERR_ALERT_FATAL = 2;

    internal const int TLSEXT_NAMETYPE_host_name = 0;

    [LibraryImport(Name, EntryPoint = "TLS_method")]
    internal static partial nint TlsMethod();

    [LibraryImport(Name, EntryPoint = "SSL_CTX_new")]
    internal static partial nint SslCtxNew(nint method);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_free")]
    internal static partial void SslCtxFree(nint ctx);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_ctrl")]
    internal static partial nint SslCtxCtrl(nint ctx, int cmd, nint larg, nint parg);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_options")]
    internal static partial ulong SslCtxSetOptions(nint ctx, ulong options);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_num_tickets")]
    internal static partial int SslCtxSetNumTickets(nint ctx, nuint tickets);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_cipher_list", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int SslCtxSetCipherList(nint ctx, string ciphers);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_ciphersuites", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int SslCtxSetCiphersuites(nint ctx, string suites);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_get_ciphers")]
    internal static partial nint SslCtxGetCiphers(nint ctx);

    [LibraryImport(Name, EntryPoint = "SSL_CIPHER_get_name")]
    internal static partial nint SslCipherGetName(nint cipher);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_use_certificate")]
    internal static partial int SslCtxUseCertificate(nint ctx, nint x509);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_use_PrivateKey")]
    internal static partial int SslCtxUsePrivateKey(nint ctx, nint pkey);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_check_private_key")]
    internal static partial int SslCtxCheckPrivateKey(nint ctx);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_cert_cb")]
    internal static unsafe partial void SslCtxSetCertCb(nint ctx, delegate* unmanaged<nint, nint, int> callback, nint arg);

    [LibraryImport(Name, EntryPoint = "SSL_use_certificate")]
    internal static partial int SslUseCertificate(nint ssl, nint x509);

    [LibraryImport(Name, EntryPoint = "SSL_use_PrivateKey")]
    internal static partial int SslUsePrivateKey(nint ssl, nint pkey);

    [LibraryImport(Name, EntryPoint = "SSL_check_private_key")]
    internal static partial int SslCheckPrivateKey(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_verify")]
    internal static partial void SslCtxSetVerify(nint ctx, int mode, nint callback);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_cert_verify_callback")]
    internal static unsafe partial void SslCtxSetCertVerifyCallback(nint ctx, delegate* unmanaged<nint, nint, int> callback, nint arg);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_alpn_select_cb")]
    internal static unsafe partial void SslCtxSetAlpnSelectCb(nint ctx, delegate* unmanaged<nint, byte**, byte*, byte*, uint, nint, int> callback, nint arg);

    /// <summary>Note the inverted result: 0 is success.</summary>
    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_alpn_protos")]
    internal static unsafe partial int SslCtxSetAlpnProtos(nint ctx, byte* protos, uint length);

    [LibraryImport(Name, EntryPoint = "SSL_CTX_set_session_id_context")]
    internal static unsafe partial int SslCtxSetSessionIdContext(nint ctx, byte* sid, uint length);

    [LibraryImport(Name, EntryPoint = "SSL_new")]
    internal static partial nint SslNew(nint ctx);

    [LibraryImport(Name, EntryPoint = "SSL_free")]
    internal static partial void SslFree(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_set_bio")]
    internal static partial void SslSetBio(nint ssl, nint rbio, nint wbio);

    [LibraryImport(Name, EntryPoint = "SSL_set_connect_state")]
    internal static partial void SslSetConnectState(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_set_accept_state")]
    internal static partial void SslSetAcceptState(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_do_handshake")]
    internal static partial int SslDoHandshake(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_read")]
    internal static unsafe partial int SslRead(nint ssl, byte* buffer, int length);

    [LibraryImport(Name, EntryPoint = "SSL_write")]
    internal static unsafe partial int SslWrite(nint ssl, byte* buffer, int length);

    [LibraryImport(Name, EntryPoint = "SSL_get_error")]
    internal static partial int SslGetError(nint ssl, int result);

    [LibraryImport(Name, EntryPoint = "SSL_shutdown")]
    internal static partial int SslShutdown(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_pending")]
    internal static partial int SslPending(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_ctrl")]
    internal static partial nint SslCtrl(nint ssl, int cmd, nint larg, nint parg);

    [LibraryImport(Name, EntryPoint = "SSL_set_ex_data")]
    internal static partial int SslSetExData(nint ssl, int index, nint data);

    [LibraryImport(Name, EntryPoint = "SSL_get_ex_data")]
    internal static partial nint SslGetExData(nint ssl, int index);

    [LibraryImport(Name, EntryPoint = "SSL_get_ex_data_X509_STORE_CTX_idx")]
    internal static partial int SslGetExDataX509StoreCtxIdx();

    [LibraryImport(Name, EntryPoint = "SSL_version")]
    internal static partial int SslVersion(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_get_current_cipher")]
    internal static partial nint SslGetCurrentCipher(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_CIPHER_get_protocol_id")]
    internal static partial ushort SslCipherGetProtocolId(nint cipher);

    [LibraryImport(Name, EntryPoint = "SSL_get0_alpn_selected")]
    internal static unsafe partial void SslGet0AlpnSelected(nint ssl, byte** data, uint* length);

    [LibraryImport(Name, EntryPoint = "SSL_get_servername")]
    internal static partial nint SslGetServername(nint ssl, int type);

    [LibraryImport(Name, EntryPoint = "SSL_get0_peer_certificate")]
    internal static partial nint SslGet0PeerCertificate(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_get_client_CA_list")]
    internal static partial nint SslGetClientCaList(nint ssl);

    [LibraryImport(Name, EntryPoint = "SSL_get1_peer_certificate")]
    internal static partial nint SslGet1PeerCertificate(nint ssl);
}
