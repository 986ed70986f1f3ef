using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tests.Tls;

/// <summary>
/// A throwaway self-signed certificate for localhost and 127.0.0.1, made with CertificateRequest and
/// written as PEM (chain and key) into a temporary folder, the way a server operator hands them over.
/// </summary>
internal sealed class TestCertificate : IDisposable
{
    private static readonly Lazy<TestCertificate> s_shared = new(() => new TestCertificate());

    private TestCertificate()
    {
        Folder = Directory.CreateTempSubdirectory("asyncore-tls-").FullName;
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        using X509Certificate2 made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CertPath = Path.Combine(Folder, "cert.pem");
        KeyPath = Path.Combine(Folder, "key.pem");
        File.WriteAllText(CertPath, made.ExportCertificatePem());
        File.WriteAllText(KeyPath, key.ExportPkcs8PrivateKeyPem());
        // Through PEM and back, as the samples load it (X509Certificate2.CreateFromPemFile).
        using X509Certificate2 pem = X509Certificate2.CreateFromPemFile(CertPath, KeyPath);
        Certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        Context = SslStreamCertificateContext.Create(Certificate, additionalCertificates: null, offline: true);
    }

    /// <summary>One certificate for the whole test run (made once: RSA key generation is slow).</summary>
    public static TestCertificate Shared => s_shared.Value;

    public string Folder { get; }

    public string CertPath { get; }

    public string KeyPath { get; }

    public X509Certificate2 Certificate { get; }

    public SslStreamCertificateContext Context { get; }

    /// <summary>Server options for this certificate; <paramref name="protocols"/> None lets the system choose (1.2 and 1.3).</summary>
    public SslServerAuthenticationOptions ServerOptions(System.Security.Authentication.SslProtocols protocols = System.Security.Authentication.SslProtocols.None) => new()
    {
        ServerCertificateContext = Context,
        EnabledSslProtocols = protocols,
        ClientCertificateRequired = false,
    };

    /// <summary>Client options that trust exactly this certificate.</summary>
    public SslClientAuthenticationOptions ClientOptions(string host = "localhost") => new()
    {
        TargetHost = host,
        RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == Certificate.GetCertHashString(),
    };

    public void Dispose()
    {
        Certificate.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}
