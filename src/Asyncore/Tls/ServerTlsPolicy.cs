using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Authentication;

namespace Asyncore.Tls;

/// <summary>
/// The TLS policy a server gets when its options do not set one, the same for both engines: TLS 1.2
/// and 1.3 only, forward-secret AEAD suites only for TLS 1.2 (Mozilla's "intermediate" profile without
/// its DHE suites: ECDHE with AES-GCM or ChaCha20-Poly1305; no static RSA key exchange, no CBC), and
/// the server's order of preference. Options that set <c>CipherSuitesPolicy</c> or
/// <c>EnabledSslProtocols</c> are used as given.
/// </summary>
internal static class ServerTlsPolicy
{
    /// <summary>TLS 1.2's suites in OpenSSL's names, in the server's order.</summary>
    internal const string OpenSslTls12 =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

    /// <summary>TLS 1.3's suites in OpenSSL's names (all three are AEAD and forward secret).</summary>
    internal const string OpenSslTls13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

    /// <summary>The same suites for SslStream, in the same order.</summary>
    internal static readonly TlsCipherSuite[] Suites =
    [
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];

    private static readonly ConditionalWeakTable<SslServerAuthenticationOptions, SslServerAuthenticationOptions> s_withPolicy = [];

    /// <summary>For SslStream: the options themselves when they set suites and versions, else a copy (one per options object) that carries the policy.</summary>
    internal static SslServerAuthenticationOptions For(SslServerAuthenticationOptions options)
    {
        bool suites = options.CipherSuitesPolicy is null && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD());
        bool versions = options.EnabledSslProtocols == SslProtocols.None;
        if (!suites && !versions)
        {
            return options;
        }

        return s_withPolicy.GetValue(options, static o =>
        {
            SslServerAuthenticationOptions copy = SslStreamChainOptions.Copy(o);
            if (copy.CipherSuitesPolicy is null && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()))
            {
                copy.CipherSuitesPolicy = new CipherSuitesPolicy(Suites);
            }

            if (copy.EnabledSslProtocols == SslProtocols.None)
            {
                copy.EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
            }

            return copy;
        });
    }
}
