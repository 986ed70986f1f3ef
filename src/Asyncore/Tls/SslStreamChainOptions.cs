using System.Net.Security;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tls;

/// <summary>
/// The options an <see cref="SslStreamEngine"/> gives its SslStream. SslStream checks the peer's certificate
/// inside the handshake, which here runs on the loop's thread; without a <c>CertificateChainPolicy</c> it
/// builds the chain with downloads allowed (an intermediate from the certificate's AIA address, revocation
/// data when asked). So when a peer certificate will be checked and the options give no policy, the engine
/// takes a copy of the options whose policy is <see cref="PeerChainPolicy"/>'s, made per session (SslStream
/// adds the peer's certificates to the policy's extra store). Options with a policy are used as given.
/// </summary>
internal static class SslStreamChainOptions
{
    private const BindingFlags Members = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    // SslStream narrows the trusted roots to a certificate context's SslCertificateTrust only when the options
    // give no policy; a copy with a policy must carry those roots over. The runtime keeps them in non-public
    // members, read here by name; when they cannot be found the options are used as given.
    private static readonly FieldInfo? s_contextTrust = typeof(SslStreamCertificateContext).GetField("Trust", Members);
    private static readonly FieldInfo? s_trustStore = typeof(SslCertificateTrust).GetField("_store", Members);
    private static readonly FieldInfo? s_trustList = typeof(SslCertificateTrust).GetField("_trustList", Members);

    /// <summary>For a server: the options themselves, or a copy checking the client's certificate offline when one is required.</summary>
    internal static SslServerAuthenticationOptions For(SslServerAuthenticationOptions options)
    {
        if (!options.ClientCertificateRequired
            || options.CertificateChainPolicy is not null
            || OfflinePolicy(isServer: true, options.CertificateRevocationCheckMode, options.ServerCertificateContext) is not { } policy)
        {
            return options;
        }

        SslServerAuthenticationOptions copy = Copy(options);
        copy.CertificateChainPolicy = policy;
        return copy;
    }

    /// <summary>A copy of every settable option (the engines change their copy, never the caller's options).</summary>
    internal static SslServerAuthenticationOptions Copy(SslServerAuthenticationOptions options)
    {
        var copy = new SslServerAuthenticationOptions
        {
            AllowRenegotiation = options.AllowRenegotiation,
            AllowTlsResume = options.AllowTlsResume,
            ApplicationProtocols = options.ApplicationProtocols,
            CertificateChainPolicy = options.CertificateChainPolicy,
            CertificateRevocationCheckMode = options.CertificateRevocationCheckMode,
            CipherSuitesPolicy = options.CipherSuitesPolicy,
            ClientCertificateRequired = options.ClientCertificateRequired,
            EnabledSslProtocols = options.EnabledSslProtocols,
            EncryptionPolicy = options.EncryptionPolicy,
            RemoteCertificateValidationCallback = options.RemoteCertificateValidationCallback,
            ServerCertificate = options.ServerCertificate,
            ServerCertificateContext = options.ServerCertificateContext,
            ServerCertificateSelectionCallback = options.ServerCertificateSelectionCallback,
        };
        if (OperatingSystem.IsLinux() || OperatingSystem.IsWindows())
        {
            copy.AllowRsaPkcs1Padding = options.AllowRsaPkcs1Padding;
            copy.AllowRsaPssPadding = options.AllowRsaPssPadding;
        }

        return copy;
    }

    /// <summary>For a client: the options themselves when they give a policy, else a copy checking the server's certificate offline.</summary>
    internal static SslClientAuthenticationOptions For(SslClientAuthenticationOptions options)
    {
        if (options.CertificateChainPolicy is not null
            || OfflinePolicy(isServer: false, options.CertificateRevocationCheckMode, options.ClientCertificateContext) is not { } policy)
        {
            return options;
        }

        SslClientAuthenticationOptions copy = Copy(options);
        copy.CertificateChainPolicy = policy;
        return copy;
    }

    /// <summary>A copy of every settable option of a client's options.</summary>
    internal static SslClientAuthenticationOptions Copy(SslClientAuthenticationOptions options)
    {
        var copy = new SslClientAuthenticationOptions
        {
            AllowRenegotiation = options.AllowRenegotiation,
            AllowTlsResume = options.AllowTlsResume,
            ApplicationProtocols = options.ApplicationProtocols,
            CertificateChainPolicy = options.CertificateChainPolicy,
            CertificateRevocationCheckMode = options.CertificateRevocationCheckMode,
            CipherSuitesPolicy = options.CipherSuitesPolicy,
            ClientCertificateContext = options.ClientCertificateContext,
            ClientCertificates = options.ClientCertificates,
            EnabledSslProtocols = options.EnabledSslProtocols,
            EncryptionPolicy = options.EncryptionPolicy,
            LocalCertificateSelectionCallback = options.LocalCertificateSelectionCallback,
            RemoteCertificateValidationCallback = options.RemoteCertificateValidationCallback,
            TargetHost = options.TargetHost,
        };
        if (OperatingSystem.IsLinux() || OperatingSystem.IsWindows())
        {
            copy.AllowRsaPkcs1Padding = options.AllowRsaPkcs1Padding;
            copy.AllowRsaPssPadding = options.AllowRsaPssPadding;
        }

        return copy;
    }

    /// <summary>
    /// <see cref="PeerChainPolicy"/>'s policy with the roots of the context's SslCertificateTrust, as SslStream
    /// would trust them; null when the context has a trust whose roots cannot be read.
    /// </summary>
    private static X509ChainPolicy? OfflinePolicy(bool isServer, X509RevocationMode revocation, SslStreamCertificateContext? context)
    {
        X509ChainPolicy policy = PeerChainPolicy.Create(isServer, revocation);
        if (context is null)
        {
            return policy;
        }

        if (s_contextTrust is null || s_trustStore is null || s_trustList is null)
        {
            return null;
        }

        if (s_contextTrust.GetValue(context) is not SslCertificateTrust trust)
        {
            return policy;
        }

        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        if (s_trustStore.GetValue(trust) is X509Store store)
        {
            policy.CustomTrustStore.AddRange(store.Certificates);
        }

        if (s_trustList.GetValue(trust) is X509Certificate2Collection list)
        {
            policy.CustomTrustStore.AddRange(list);
        }

        return policy;
    }
}
