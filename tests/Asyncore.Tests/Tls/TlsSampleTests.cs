using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Asyncore.Tests.Tls;

/// <summary>
/// The samples with --cert and --key, started as a new user starts them, with a certificate made for
/// the test: HTTPS answered by curl, HttpClient and Python's urllib; SMTP with STARTTLS answered by
/// smtplib and MailKit; --require-tls; the STARTTLS command injection.
/// </summary>
public sealed class TlsSampleTests : IDisposable
{
    private static readonly TestCertificate Cert = TestCertificate.Shared;
    private readonly string _maildir = Directory.CreateTempSubdirectory("asyncore-tls-maildir-").FullName;

    public void Dispose() => Directory.Delete(_maildir, recursive: true);

    private string[] TlsArgs => ["--cert", Cert.CertPath, "--key", Cert.KeyPath];

    [NeedsFact(Outside.Curl)]
    public void HttpsSampleAnswersCurlOverTls12AndTls13()
    {
        using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, [.. TlsArgs, "--quiet"]);
        string url = $"https://127.0.0.1:{at.Port}";
        (int code, string page, string err) = Tool.Run("curl", ["-sS", "-k", $"{url}/"]);
        Assert.True(code == 0, err);
        Assert.Contains("Hello, World!", page);

        foreach (string version in new[] { "1.2", "1.3" })
        {
            (code, string verbose, err) = Tool.Run("curl", ["-sS", "-v", "-k", $"--tlsv{version}", "--tls-max", version, "-o", "/dev/null", "-w", "%{http_code}", $"{url}/"]);
            Assert.True(code == 0, err);
            Assert.Equal("200", verbose);
            Assert.Contains($"SSL connection using TLSv{version}", err);
            Assert.Contains("ALPN: server accepted http/1.1", err);
        }

        // Verified against the certificate, by name: the chain and the key are the ones given.
        (code, string echoed, err) = Tool.Run("curl", ["-sS", "--cacert", Cert.CertPath, "--resolve", $"localhost:{at.Port}:127.0.0.1", "--data", "a=1&b=tls", $"https://localhost:{at.Port}/echo"]);
        Assert.True(code == 0, err);
        Assert.Equal("a=1\nb=tls\n", echoed);

        (code, _, err) = Tool.Run("curl", ["-sS", "-v", "-k", "-o", "/dev/null", "-o", "/dev/null", $"{url}/", $"{url}/"]);
        Assert.True(code == 0, err);
        Assert.Contains("Re-using existing connection", err);

        // Plain HTTP on the TLS port is answered 400 in plain text, as nginx answers it, and closed;
        // the port goes on serving TLS.
        (code, string plain, err) = Tool.Run("curl", ["-sS", "-m", "5", "-w", "|%{http_code}", $"http://127.0.0.1:{at.Port}/"]);
        Assert.True(code == 0, err);
        Assert.Equal("400 Bad Request: The plain HTTP request was sent to HTTPS port\n|400", plain);
        (code, page, err) = Tool.Run("curl", ["-sS", "-k", $"{url}/"]);
        Assert.True(code == 0, err);
        Assert.Contains("Hello, World!", page);
    }

    [NeedsFact(Outside.Python3)]
    public async Task HttpsSampleAnswersHttpClientAndPythonUrllib()
    {
        using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, [.. TlsArgs, "--quiet"]);
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == Cert.Certificate.GetCertHashString(),
            },
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
        for (int i = 0; i < 3; i++)
        {
            string page = await http.GetStringAsync($"https://127.0.0.1:{at.Port}/");
            Assert.Contains("Hello, World!", page);
        }

        using var response = await http.PostAsync($"https://127.0.0.1:{at.Port}/echo", new FormUrlEncodedContent([new("x", "über")]));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("x=über\n", await response.Content.ReadAsStringAsync());

        string python = Tool.Python("""
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
with urllib.request.urlopen(f'https://localhost:{sys.argv[1]}/', context=ctx, timeout=20) as r:
    print(r.status, r.read().decode().splitlines()[0])
""", at.Port.ToString(), Cert.CertPath);
        Assert.Equal("200 Hello, World!", python.Trim());
    }

    /// <summary>Producers, the high-water mark and the idle timer over TLS: a 3 MiB file from --root byte for byte, twice on one connection, then the idle close.</summary>
    [NeedsFact(Outside.Curl, Outside.OpenSsl)]
    public void HttpsSampleServesFilesThroughProducersAndClosesIdleConnections()
    {
        string root = Directory.CreateTempSubdirectory("asyncore-tls-root-").FullName;
        try
        {
            byte[] big = new byte[3 * 1024 * 1024];
            new Random(7).NextBytes(big);
            File.WriteAllBytes(Path.Combine(root, "big.bin"), big);
            using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, [.. TlsArgs, "--quiet", "--root", root, "--idle-timeout", "1"]);
            string copy = Path.Combine(root, "copy.bin");
            (int code, _, string err) = Tool.Run("curl", ["-sS", "-k", "-o", "/dev/null", "-o", copy, $"https://127.0.0.1:{at.Port}/big.bin", $"https://127.0.0.1:{at.Port}/big.bin"]);
            Assert.True(code == 0, err);
            Assert.Equal(big, File.ReadAllBytes(copy));

            // Silent after the handshake: the idle timer closes it (s_client, told to ignore its own end of input, exits then).
            var clock = System.Diagnostics.Stopwatch.StartNew();
            (code, string said, err) = Tool.Run("openssl", ["s_client", "-connect", $"127.0.0.1:{at.Port}", "-quiet"], stdin: null, timeoutMs: 15_000);
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(10));
            Assert.Equal(string.Empty, said);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [NeedsFact(Outside.Python3)]
    public void SmtplibStartsTlsAndDeliversAndEhloForgetsStartTls()
    {
        using var server = SampleProcess.StartServer("SmtpServer", out IPEndPoint at, [.. TlsArgs, "--maildir", _maildir]);
        string output = Tool.Python("""
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP('localhost', int(sys.argv[1]), timeout=20)
s.ehlo()
print('before', s.has_extn('starttls'))
code, _ = s.starttls(context=ctx)
print('starttls', code, s.sock.version())
s.ehlo()
print('after', s.has_extn('starttls'))
s.sendmail('alice@example.org', ['bob@example.org'], b'Subject: over tls\r\n\r\nhello\r\n')
s.quit()
""", at.Port.ToString(), Cert.CertPath);
        Assert.Equal(["before True", "starttls 220 TLSv1.3", "after False"], output.Trim().Split('\n'));
        string[] delivered = Directory.GetFiles(Path.Combine(_maildir, "new"));
        Assert.Single(delivered);
        Assert.Equal("Subject: over tls\r\n\r\nhello\r\n", File.ReadAllText(delivered[0]));
    }

    [Fact]
    public async Task MailKitSendsWithStartTls()
    {
        using var server = SampleProcess.StartServer("SmtpServer", out IPEndPoint at, [.. TlsArgs, "--maildir", _maildir, "--require-tls"]);
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.org"));
        message.To.Add(new MailboxAddress("Bob", "bob@example.org"));
        message.Subject = "MailKit over STARTTLS";
        message.Body = new TextPart("plain") { Text = "sent after STARTTLS\r\n" };
        using (var client = new SmtpClient())
        {
            client.ServerCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == Cert.Certificate.GetCertHashString();
            client.Timeout = 20_000;
            await client.ConnectAsync("127.0.0.1", at.Port, SecureSocketOptions.StartTls);
            Assert.True(client.IsSecure);
            await client.SendAsync(message);
            await client.DisconnectAsync(quit: true);
        }

        string[] delivered = Directory.GetFiles(Path.Combine(_maildir, "new"));
        Assert.Single(delivered);
        Assert.Contains("Subject: MailKit over STARTTLS", File.ReadAllText(delivered[0]));
    }

    [NeedsFact(Outside.Python3)]
    public void RequireTlsAnswers530ToMailBeforeStartTls()
    {
        using var server = SampleProcess.StartServer("SmtpServer", out IPEndPoint at, [.. TlsArgs, "--maildir", _maildir, "--require-tls"]);
        string output = Tool.Python("""
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP('localhost', int(sys.argv[1]), timeout=20)
s.ehlo()
print(*s.mail('alice@example.org'))
s.rset()
s.starttls(context=ctx)
s.ehlo()
print(*s.mail('alice@example.org'))
s.quit()
""", at.Port.ToString(), Cert.CertPath);
        Assert.Equal(["530 b'5.7.0 Must issue a STARTTLS command first'", "250 b'OK'"], output.Trim().Split('\n'));
    }

    /// <summary>
    /// CVE-2011-0411: commands sent in the clear right behind STARTTLS, in the same segment, must not
    /// be run as if they had come through TLS. After the handshake the first answer is NOOP's, and
    /// MAIL is refused because the EHLO before STARTTLS is forgotten (RFC 3207 4.2).
    /// </summary>
    [Fact]
    public void CommandsPipelinedBehindStartTlsAreDropped()
    {
        using var server = SampleProcess.StartServer("SmtpServer", out IPEndPoint at, [.. TlsArgs, "--maildir", _maildir]);
        using var tcp = new TcpClient();
        tcp.Connect(at);
        NetworkStream raw = tcp.GetStream();
        raw.ReadTimeout = 10_000; // lines are read a byte at a time: nothing past the 220 is taken from the socket
        Assert.StartsWith("220 ", ReadLine(raw));
        raw.Write("EHLO client.test\r\n"u8);
        string line;
        while (!(line = ReadLine(raw)).StartsWith("250 ", StringComparison.Ordinal))
        {
        }

        raw.Write("STARTTLS\r\nHELP\r\nEHLO injected.test\r\n"u8);
        Assert.StartsWith("220 2.0.0", ReadLine(raw));
        using var tls = new SslStream(raw, leaveInnerStreamOpen: true);
        tls.AuthenticateAsClient(Cert.ClientOptions());
        tls.Write("NOOP\r\nMAIL FROM:<alice@example.org>\r\n"u8);
        tls.Flush();
        Assert.Equal("250 OK", ReadLine(tls));
        Assert.Equal("503 Error: send HELO first", ReadLine(tls));
    }

    [Theory]
    [InlineData("--cert-only")]
    [InlineData("--missing-files")]
    [InlineData("--require-tls-alone")]
    public void TlsMistakesOnTheCommandLineAreOneLine(string mistake)
    {
        string[] args = mistake switch
        {
            "--cert-only" => ["--port", "0", "--cert", Cert.CertPath, "--maildir", _maildir],
            "--missing-files" => ["--port", "0", "--cert", "/nonexistent/cert.pem", "--key", "/nonexistent/key.pem", "--maildir", _maildir],
            _ => ["--port", "0", "--require-tls", "--maildir", _maildir],
        };
        (int code, string[] stdout, string[] stderr) = SampleProcess.Run("SmtpServer", args);
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Single(stderr);
        Assert.Contains(mistake == "--missing-files" ? "cannot load" : "--", stderr[0]);
    }

    private static string ReadLine(Stream s)
    {
        var line = new List<byte>();
        int b;
        while ((b = s.ReadByte()) >= 0 && b != '\n')
        {
            line.Add((byte)b);
        }

        return Encoding.ASCII.GetString(line.ToArray()).TrimEnd('\r');
    }
}
