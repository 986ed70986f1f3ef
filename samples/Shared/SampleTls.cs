using System.CommandLine;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Samples;

/// <summary>
/// The --cert/--key options of the samples that speak TLS: a PEM certificate chain (the server's
/// certificate first, then the intermediates, as nginx's <c>ssl_certificate</c> takes it) and its PEM
/// private key, loaded once into the server options every connection shares.
/// </summary>
internal static class SampleTls
{
    /// <summary>--cert FILE.</summary>
    public static Option<string?> CertOption(string purpose) =>
        new("--cert") { Description = $"PEM certificate chain, the server's certificate first: {purpose} (needs --key)" };

    /// <summary>--key FILE.</summary>
    public static Option<string?> KeyOption() =>
        new("--key") { Description = "PEM private key of the --cert certificate (PKCS#8, PKCS#1 or SEC1; not encrypted)" };

    /// <summary>--no-tls-resume.</summary>
    public static Option<bool> NoResumeOption() =>
        new("--no-tls-resume") { Description = "Refuse TLS session resumption: no session tickets, every handshake a full one (nginx's ssl_session_tickets off with ssl_session_cache off)" };

    /// <summary>
    /// The server options for the two files, or null when neither was given. A mistake (one of the two
    /// missing, a file that cannot be read, a key that does not match) is reported in one line on
    /// standard error and answered with false; the program then exits with 2.
    /// </summary>
    public static bool TryLoad(ParseResult result, Option<string?> cert, Option<string?> key, Option<bool> noResume, SslApplicationProtocol[]? alpn, out SslServerAuthenticationOptions? options)
    {
        options = null;
        string? certPath = result.GetValue(cert);
        string? keyPath = result.GetValue(key);
        if (certPath is null && keyPath is null)
        {
            return true;
        }

        if (certPath is null || keyPath is null)
        {
            Console.Error.WriteLine($"{AppDomain.CurrentDomain.FriendlyName}: --cert and --key go together");
            return false;
        }

        try
        {
            using X509Certificate2 pem = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            // Through PKCS#12 so the key is usable by every platform's TLS stack, not only Linux's.
            X509Certificate2 leaf = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(certPath);
            var intermediates = new X509Certificate2Collection();
            foreach (X509Certificate2 c in chain)
            {
                if (c.Thumbprint != leaf.Thumbprint)
                {
                    intermediates.Add(c);
                }
            }

            options = new SslServerAuthenticationOptions
            {
                // Built once: the chain is not looked up again for every handshake.
                ServerCertificateContext = SslStreamCertificateContext.Create(leaf, intermediates, offline: true),
                ApplicationProtocols = alpn is null ? null : [.. alpn],
                ClientCertificateRequired = false,
                AllowTlsResume = !result.GetValue(noResume),
            };
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            Console.Error.WriteLine($"{AppDomain.CurrentDomain.FriendlyName}: cannot load --cert {certPath} / --key {keyPath}: {e.Message}");
            return false;
        }
    }
}
