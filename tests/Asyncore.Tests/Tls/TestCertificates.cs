using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tests.Tls;

/// <summary>
/// Throwaway certificates made in memory with CertificateRequest: a test CA, a server certificate it signed
/// (RSA, for localhost, example.test and 127.0.0.1), a client certificate it signed (ECDSA), and a self-signed
/// server certificate nobody trusts. <see cref="WritePem"/> puts them in a temp folder for the openssl CLI.
/// </summary>
internal static class TestCertificates
{
    private static readonly Lazy<X509Certificate2> s_ca = new(MakeCa);
    private static readonly Lazy<X509Certificate2> s_server = new(() => Issue(Ca, "CN=localhost", Role.Server, rsa: true));
    private static readonly Lazy<X509Certificate2> s_client = new(() => Issue(Ca, "CN=Asyncore Test Client", Role.Client));
    private static readonly Lazy<X509Certificate2> s_selfSigned = new(MakeSelfSigned);
    private static readonly Lazy<X509Certificate2> s_intermediate = new(() => Issue(Ca, "CN=Asyncore Test Intermediate", Role.Ca));
    private static readonly Lazy<X509Certificate2> s_chained = new(() => Issue(Intermediate, "CN=chained.test", Role.Server, dnsName: "chained.test"));

    private enum Role
    {
        Server,
        Client,
        Ca,
    }

    internal static X509Certificate2 Ca => s_ca.Value;

    internal static X509Certificate2 Server => s_server.Value;

    internal static X509Certificate2 Client => s_client.Value;

    internal static X509Certificate2 SelfSigned => s_selfSigned.Value;

    /// <summary>An intermediate CA under <see cref="Ca"/>.</summary>
    internal static X509Certificate2 Intermediate => s_intermediate.Value;

    /// <summary>A server certificate for chained.test issued by <see cref="Intermediate"/>: a client trusting only the CA needs the intermediate sent.</summary>
    internal static X509Certificate2 Chained => s_chained.Value;

    /// <summary>A chain policy that trusts the test CA only (what a client pinned to a private CA uses).</summary>
    internal static X509ChainPolicy TrustTestCa()
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.Add(Ca);
        return policy;
    }

    /// <summary>Writes ca.pem, server.pem/server.key and client.pem/client.key into <paramref name="folder"/>.</summary>
    internal static void WritePem(string folder)
    {
        File.WriteAllText(Path.Combine(folder, "ca.pem"), Ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(folder, "server.pem"), Server.ExportCertificatePem());
        using (RSA key = Server.GetRSAPrivateKey()!)
        {
            File.WriteAllText(Path.Combine(folder, "server.key"), key.ExportPkcs8PrivateKeyPem());
        }

        File.WriteAllText(Path.Combine(folder, "client.pem"), Client.ExportCertificatePem());
        using (ECDsa key = Client.GetECDsaPrivateKey()!)
        {
            File.WriteAllText(Path.Combine(folder, "client.key"), key.ExportPkcs8PrivateKeyPem());
        }
    }

    private static X509Certificate2 MakeCa()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Asyncore Test CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Issue(X509Certificate2 issuer, string subject, Role role, bool rsa = false, string? dnsName = null)
    {
        using AsymmetricAlgorithm key = rsa ? RSA.Create(2048) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        CertificateRequest request = key is RSA r
            ? new CertificateRequest(subject, r, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest(subject, (ECDsa)key, HashAlgorithmName.SHA256);
        if (role == Role.Ca)
        {
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        }
        else
        {
            AddLeafExtensions(request, role == Role.Server, dnsName);
        }

        byte[] serial = RandomNumberGenerator.GetBytes(8);
        serial[0] &= 0x7f;
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using ECDsa issuerKey = issuer.GetECDsaPrivateKey()!;
        using X509Certificate2 issued = request.Create(
            issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), serial);
        return key is RSA rsaKey ? issued.CopyWithPrivateKey(rsaKey) : issued.CopyWithPrivateKey((ECDsa)key);
    }

    private static X509Certificate2 MakeSelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        AddLeafExtensions(request, server: true);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static void AddLeafExtensions(CertificateRequest request, bool server, string? dnsName = null)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            if (dnsName is not null)
            {
                names.AddDnsName(dnsName);
            }
            else
            {
                names.AddDnsName("localhost");
                names.AddDnsName("example.test");
                names.AddIpAddress(IPAddress.Loopback);
            }

            request.CertificateExtensions.Add(names.Build());
        }
    }
}
