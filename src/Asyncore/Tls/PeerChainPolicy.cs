using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tls;

/// <summary>
/// The chain policy a peer's certificate is checked with when the options give no
/// <c>CertificateChainPolicy</c>. The check runs on the loop's thread, inside the handshake, so it must
/// not touch the network: an intermediate the peer did not send is not downloaded from the certificate's
/// AIA address (<see cref="X509ChainPolicy.DisableCertificateDownloads"/>), and revocation is checked at
/// most against what is already on this machine (<see cref="X509RevocationMode.Online"/> becomes
/// <see cref="X509RevocationMode.Offline"/>; <see cref="X509RevocationMode.NoCheck"/>, the options'
/// default, stays). Otherwise the policy is SslStream's own default: the end certificate's revocation
/// only (the root excluded) and the usage the peer's role needs (serverAuth or clientAuth).
/// </summary>
/// <remarks>
/// A download on the loop's thread stalls every channel of the loop for as long as the remote server
/// takes (a peer chooses that server: it is named in the certificate it sends). A peer that leaves out an
/// intermediate therefore fails the check with <see cref="X509ChainStatusFlags.PartialChain"/> (policy
/// error <c>RemoteCertificateChainErrors</c>), as nginx, which never fetches intermediates, fails it. A
/// <c>CertificateChainPolicy</c> given in the options is used as given, downloads and online revocation
/// included when it asks for them, and then those downloads block the loop: set its
/// <see cref="X509ChainPolicy.DisableCertificateDownloads"/> and leave its revocation mode off
/// <see cref="X509RevocationMode.Online"/> to keep the loop responsive.
/// </remarks>
internal static class PeerChainPolicy
{
    private static readonly Oid s_serverAuth = new("1.3.6.1.5.5.7.3.1", "Server Authentication");
    private static readonly Oid s_clientAuth = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    /// <summary>A new policy (one per handshake: the chain adds the peer's certificates to its extra store) for checking the peer of a server (<paramref name="isServer"/>) or of a client.</summary>
    internal static X509ChainPolicy Create(bool isServer, X509RevocationMode requested)
    {
        var policy = new X509ChainPolicy
        {
            RevocationMode = WithoutFetching(requested),
            RevocationFlag = X509RevocationFlag.ExcludeRoot,
            DisableCertificateDownloads = true,
        };
        policy.ApplicationPolicy.Add(isServer ? s_clientAuth : s_serverAuth);
        return policy;
    }

    /// <summary>The revocation mode that answers from this machine alone: Online becomes Offline (cached CRLs only), the others stay.</summary>
    internal static X509RevocationMode WithoutFetching(X509RevocationMode requested) =>
        requested == X509RevocationMode.Online ? X509RevocationMode.Offline : requested;
}
