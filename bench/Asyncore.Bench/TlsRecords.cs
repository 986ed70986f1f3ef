using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Tls;
using Asyncore.Tls.OpenSsl;
using BenchmarkDotNet.Attributes;

namespace Asyncore.Bench;

/// <summary>
/// Steady-state TLS records through each engine, in memory (no socket): the client encrypts one message,
/// its records are fed to the server, the server decrypts them. Per operation = per message, so
/// Allocated is bytes per message: 0 B is what the loop's hot path needs. Both engines negotiate
/// TLS 1.3 with a P-256 certificate, as the HTTPS benchmarks do.
/// </summary>
[MemoryDiagnoser]
public class TlsRecords
{
    private ITlsEngine _client = null!;
    private ITlsEngine _server = null!;
    private byte[] _message = [];
    private readonly byte[] _wire = new byte[64 * 1024];
    private readonly byte[] _plain = new byte[64 * 1024];

    [Params("openssl", "sslstream")]
    public string Engine { get; set; } = "openssl";

    [Params(13, 4000)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using X509Certificate2 made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2));
        X509Certificate2 certificate = X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12), null);
        var serverOptions = new SslServerAuthenticationOptions { ServerCertificate = certificate, AllowTlsResume = false };
        var clientOptions = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        };
        if (Engine == "openssl")
        {
            _server = new OpenSslEngine(serverOptions);
            _client = new OpenSslEngine(clientOptions);
        }
        else
        {
            _server = SslStreamEngine.CreateServer(serverOptions);
            _client = SslStreamEngine.CreateClient(clientOptions);
        }

        for (int i = 0; i < 50 && !(_client.IsHandshakeComplete && _server.IsHandshakeComplete); i++)
        {
            _client.Handshake();
            Pump(_client, _server);
            _server.Handshake();
            Pump(_server, _client);
        }

        if (!(_client.IsHandshakeComplete && _server.IsHandshakeComplete))
        {
            throw new InvalidOperationException("the in-memory handshake did not complete");
        }

        _client.Read(_plain, out _); // takes in what the server sent after its Finished (TLS 1.3 tickets, if any)
        _message = new byte[Size];
        RandomNumberGenerator.Fill(_message);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _client.Dispose();
        _server.Dispose();
    }

    /// <summary>One message: encrypted by the client, carried over, decrypted by the server.</summary>
    [Benchmark]
    public int Message()
    {
        _client.Write(_message, out _);
        Pump(_client, _server);
        int got = 0;
        while (got < _message.Length)
        {
            _server.Read(_plain, out int read);
            if (read == 0)
            {
                throw new InvalidOperationException("the server's engine returned fewer bytes than were sent");
            }

            got += read;
        }

        return got;
    }

    private void Pump(ITlsEngine from, ITlsEngine to)
    {
        while (from.PendingOutput > 0)
        {
            int n = from.TakeOutput(_wire);
            to.FeedInput(_wire.AsSpan(0, n));
        }
    }
}
