using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tls.OpenSsl;

/// <summary>
/// A certificate, its private key and its intermediates as OpenSSL objects (X509*, EVP_PKEY*), made once and
/// installed into a context (SSL_CTX_use_*) or into one session (SSL_use_*, for a certificate chosen per SNI
/// name). OpenSSL takes its own references on install, so these can be freed at any time after.
/// </summary>
internal sealed unsafe class OpenSslCredential : IDisposable
{
    private readonly nint[] _chain;
    private nint _certificate;
    private nint _key;

    internal OpenSslCredential(X509Certificate2 certificate, IReadOnlyList<X509Certificate2> intermediates)
    {
        _chain = new nint[intermediates.Count];
        try
        {
            _certificate = ToNative(certificate);
            _key = ToNativeKey(certificate);
            for (int i = 0; i < _chain.Length; i++)
            {
                _chain[i] = ToNative(intermediates[i]);
            }
        }
        catch
        {
            Free();
            throw;
        }
    }

    ~OpenSslCredential() => Free();

    /// <summary>The credential for a certificate as SslStream would send it: with the intermediates its chain finds offline.</summary>
    internal static OpenSslCredential From(X509Certificate certificate)
    {
        if (certificate is not X509Certificate2 withKey)
        {
            throw new NotSupportedException("The OpenSSL engine needs an X509Certificate2 with its private key.");
        }

        SslStreamCertificateContext context = SslStreamCertificateContext.Create(withKey, additionalCertificates: null, offline: true);
        return new OpenSslCredential(context.TargetCertificate, context.IntermediateCertificates);
    }

    /// <summary>Makes this the context's certificate, key and chain.</summary>
    internal void Install(nint ctx)
    {
        if (LibSsl.SslCtxUseCertificate(ctx, _certificate) != 1)
        {
            throw OpenSslLibrary.SetupError("SSL_CTX_use_certificate");
        }

        if (LibSsl.SslCtxUsePrivateKey(ctx, _key) != 1 || LibSsl.SslCtxCheckPrivateKey(ctx) != 1)
        {
            throw OpenSslLibrary.SetupError("SSL_CTX_use_PrivateKey");
        }

        foreach (nint intermediate in _chain)
        {
            // SSL_CTX_add1_chain_cert: larg 1 takes its own reference.
            if (LibSsl.SslCtxCtrl(ctx, LibSsl.SSL_CTRL_CHAIN_CERT, 1, intermediate) != 1)
            {
                throw OpenSslLibrary.SetupError("SSL_CTX_add1_chain_cert");
            }
        }
    }

    /// <summary>Makes this one session's certificate, key and chain (from the certificate callback).</summary>
    internal void InstallOn(nint ssl)
    {
        if (LibSsl.SslUseCertificate(ssl, _certificate) != 1
            || LibSsl.SslUsePrivateKey(ssl, _key) != 1
            || LibSsl.SslCheckPrivateKey(ssl) != 1)
        {
            throw OpenSslLibrary.SetupError("SSL_use_certificate");
        }

        foreach (nint intermediate in _chain)
        {
            if (LibSsl.SslCtrl(ssl, LibSsl.SSL_CTRL_CHAIN_CERT, 1, intermediate) != 1)
            {
                throw OpenSslLibrary.SetupError("SSL_add1_chain_cert");
            }
        }
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
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

    private void Free()
    {
        if (_certificate != 0)
        {
            LibCrypto.X509Free(_certificate);
            _certificate = 0;
        }

        if (_key != 0)
        {
            LibCrypto.EvpPKeyFree(_key);
            _key = 0;
        }

        for (int i = 0; i < _chain.Length; i++)
        {
            if (_chain[i] != 0)
            {
                LibCrypto.X509Free(_chain[i]);
                _chain[i] = 0;
            }
        }
    }
}
