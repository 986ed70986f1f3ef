using System.Diagnostics;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Http;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Tls;

/// <summary>
/// The HTTPS sample peeks at a connection's first byte before TLS starts, as nginx does: plain HTTP
/// is answered 400 in plain text; a TLS client on the same server is served as before; a client that
/// says nothing is closed at the request timeout.
/// </summary>
public sealed class PlainHttpOnTlsPortTests
{
    private static readonly TestCertificate Cert = TestCertificate.Shared;

    [Fact]
    public async Task PlainHttpIsAnswered400AndTlsStillWorks()
    {
        using var server = new HttpTestServer(configure: o => o with { Tls = Cert.ServerOptions(), RequestTimeout = TimeSpan.FromSeconds(1) });
        string plain = server.Raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n", halfClose: false);
        Assert.Equal("HTTP/1.1 400 Bad Request", HttpTestServer.StatusLine(plain));
        Assert.Contains("Connection: close\r\n", plain);
        Assert.EndsWith("\r\n\r\n400 Bad Request: The plain HTTP request was sent to HTTPS port\n", plain);

        using (Socket s = server.Connect())
        await using (var tls = new SslStream(new NetworkStream(s)))
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", RemoteCertificateValidationCallback = (_, _, _, _) => true });
            await tls.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray());
            using var reader = new StreamReader(tls, Encoding.ASCII);
            string answer = await reader.ReadToEndAsync();
            Assert.StartsWith("HTTP/1.1 200 OK", answer);
            Assert.Contains("Hello, World!", answer);
        }

        // Silent after connecting: closed at the request timeout, without a byte.
        using Socket silent = server.Connect();
        var clock = Stopwatch.StartNew();
        Assert.Empty(Drive.ReadToEnd(silent));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.8, 8);
        Assert.Contains("\"-\" 400 ", server.Log);
    }
}
