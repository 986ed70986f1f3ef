using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tls.OpenSsl;

/// <summary>What the handshake negotiated, read from the SSL once it is complete.</summary>
internal sealed unsafe partial class OpenSslEngine
{
    /// <inheritdoc/>
    public SslProtocols Protocol
    {
        get
        {
            if (!_complete || _disposed)
            {
                return SslProtocols.None;
            }

            return LibSsl.SslVersion(_ssl) switch
            {
                LibSsl.TLS1_3_VERSION => SslProtocols.Tls13,
                LibSsl.TLS1_2_VERSION => SslProtocols.Tls12,
                _ => SslProtocols.None,
            };
        }
    }

    /// <inheritdoc/>
    public TlsCipherSuite CipherSuite
    {
        get
        {
            nint cipher = !_complete || _disposed ? 0 : LibSsl.SslGetCurrentCipher(_ssl);
            // SSL_CIPHER_get_protocol_id is the IANA number, which is what TlsCipherSuite's values are.
            return cipher == 0 ? TlsCipherSuite.TLS_NULL_WITH_NULL_NULL : (TlsCipherSuite)LibSsl.SslCipherGetProtocolId(cipher);
        }
    }

    /// <inheritdoc/>
    public SslApplicationProtocol ApplicationProtocol
    {
        get
        {
            if (_applicationProtocol is { } known)
            {
                return known;
            }

            if (!_complete || _disposed)
            {
                return default;
            }

            byte* data;
            uint length;
            LibSsl.SslGet0AlpnSelected(_ssl, &data, &length);
            var name = new ReadOnlySpan<byte>(data, (int)length);
            SslApplicationProtocol chosen =
                length == 0 ? default
                : name.SequenceEqual(SslApplicationProtocol.Http11.Protocol.Span) ? SslApplicationProtocol.Http11
                : name.SequenceEqual(SslApplicationProtocol.Http2.Protocol.Span) ? SslApplicationProtocol.Http2
                : name.SequenceEqual(SslApplicationProtocol.Http3.Protocol.Span) ? SslApplicationProtocol.Http3
                : new SslApplicationProtocol(name.ToArray());
            _applicationProtocol = chosen;
            return chosen;
        }
    }

    /// <inheritdoc/>
    public X509Certificate2? RemoteCertificate
    {
        get
        {
            if (_remoteCertificateRead || !_complete || _disposed)
            {
                return _remoteCertificate;
            }

            _remoteCertificateRead = true;
            nint x509 = LibSsl.SslGet1PeerCertificate(_ssl);
            if (x509 != 0)
            {
                try
                {
                    _remoteCertificate = ToManaged(x509);
                }
                finally
                {
                    LibCrypto.X509Free(x509);
                }
            }

            return _remoteCertificate;
        }
    }

    /// <summary>On a server, the name the client sent in SNI (null without one); on a client, its TargetHost.</summary>
    public string? TargetHostName
    {
        get
        {
            if (!_context.IsServer)
            {
                return _targetHost;
            }

            if (_serverName is null && _complete && !_disposed)
            {
                nint name = LibSsl.SslGetServername(_ssl, LibSsl.TLSEXT_NAMETYPE_host_name);
                _serverName = name == 0 ? null : Marshal.PtrToStringUTF8(name);
            }

            return _serverName;
        }
    }
}
