using System.Runtime.InteropServices;

namespace Asyncore.Tls.OpenSsl;

/// <summary>
/// The libcrypto imports the engine uses (OpenSSL 3, Debian 12's libcrypto.so.3). Every C <c>long</c> is
/// declared <see cref="nint"/>: the same width on every Unix (LP64 and ILP32).
/// </summary>
internal static partial class LibCrypto
{
    /// <summary>The soname: the 3.x ABI, so every name below exists as a real export, not a macro.</summary>
    internal const string Name = "libcrypto.so.3";

    internal const int BIO_CTRL_INFO = 3;
    internal const int BIO_CTRL_PENDING = 10;

    /// <summary>CRYPTO_EX_INDEX_SSL: ex_data indexes for SSL objects.</summary>
    internal const int CRYPTO_EX_INDEX_SSL = 0;

    internal const int X509_V_ERR_CERT_UNTRUSTED = 27;
    internal const int X509_V_ERR_APPLICATION_VERIFICATION = 50;
    internal const int X509_V_ERR_HOSTNAME_MISMATCH = 62;

    [LibraryImport(Name, EntryPoint = "OpenSSL_version_num")]
    internal static partial nuint OpenSslVersionNum();

    [LibraryImport(Name, EntryPoint = "ERR_get_error")]
    internal static partial nuint ErrGetError();

    [LibraryImport(Name, EntryPoint = "ERR_clear_error")]
    internal static partial void ErrClearError();

    [LibraryImport(Name, EntryPoint = "ERR_error_string_n")]
    internal static unsafe partial void ErrErrorStringN(nuint error, byte* buffer, nuint length);

    [LibraryImport(Name, EntryPoint = "BIO_s_mem")]
    internal static partial nint BioSMem();

    [LibraryImport(Name, EntryPoint = "BIO_new")]
    internal static partial nint BioNew(nint method);

    [LibraryImport(Name, EntryPoint = "BIO_free")]
    internal static partial int BioFree(nint bio);

    [LibraryImport(Name, EntryPoint = "BIO_write")]
    internal static unsafe partial int BioWrite(nint bio, byte* data, int length);

    [LibraryImport(Name, EntryPoint = "BIO_read")]
    internal static unsafe partial int BioRead(nint bio, byte* data, int length);

    [LibraryImport(Name, EntryPoint = "BIO_ctrl")]
    internal static partial nint BioCtrl(nint bio, int cmd, nint larg, nint parg);

    [LibraryImport(Name, EntryPoint = "d2i_X509")]
    internal static unsafe partial nint D2iX509(nint reuse, byte** input, nint length);

    [LibraryImport(Name, EntryPoint = "i2d_X509")]
    internal static unsafe partial int I2dX509(nint x509, byte** output);

    [LibraryImport(Name, EntryPoint = "i2d_X509_NAME")]
    internal static unsafe partial int I2dX509Name(nint name, byte** output);

    [LibraryImport(Name, EntryPoint = "X509_free")]
    internal static partial void X509Free(nint x509);

    [LibraryImport(Name, EntryPoint = "d2i_PKCS8_PRIV_KEY_INFO")]
    internal static unsafe partial nint D2iPkcs8PrivKeyInfo(nint reuse, byte** input, nint length);

    [LibraryImport(Name, EntryPoint = "PKCS8_PRIV_KEY_INFO_free")]
    internal static partial void Pkcs8PrivKeyInfoFree(nint p8);

    [LibraryImport(Name, EntryPoint = "EVP_PKCS82PKEY")]
    internal static partial nint EvpPkcs82PKey(nint p8);

    [LibraryImport(Name, EntryPoint = "EVP_PKEY_free")]
    internal static partial void EvpPKeyFree(nint pkey);

    [LibraryImport(Name, EntryPoint = "X509_STORE_CTX_get0_cert")]
    internal static partial nint X509StoreCtxGet0Cert(nint storeCtx);

    [LibraryImport(Name, EntryPoint = "X509_STORE_CTX_get0_untrusted")]
    internal static partial nint X509StoreCtxGet0Untrusted(nint storeCtx);

    [LibraryImport(Name, EntryPoint = "X509_STORE_CTX_set_error")]
    internal static partial void X509StoreCtxSetError(nint storeCtx, int error);

    [LibraryImport(Name, EntryPoint = "X509_STORE_CTX_get_ex_data")]
    internal static partial nint X509StoreCtxGetExData(nint storeCtx, int index);

    [LibraryImport(Name, EntryPoint = "OPENSSL_sk_num")]
    internal static partial int SkNum(nint stack);

    [LibraryImport(Name, EntryPoint = "OPENSSL_sk_value")]
    internal static partial nint SkValue(nint stack, int index);

    [LibraryImport(Name, EntryPoint = "CRYPTO_get_ex_new_index")]
    internal static partial int CryptoGetExNewIndex(int classIndex, nint argl, nint argp, nint newFunc, nint dupFunc, nint freeFunc);
}
