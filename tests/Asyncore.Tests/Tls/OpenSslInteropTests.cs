using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Asyncore.Tests.Support;
using Asyncore.Tls.OpenSsl;

namespace Asyncore.Tests.Tls;

/// <summary>Runs where the engine loads and the openssl CLI is on PATH (.ci/run installs it); says so when not.</summary>
public sealed class OpenSslCliTheoryAttribute : TheoryAttribute
{
    public OpenSslCliTheoryAttribute() => Skip = OpenSslSkip.EngineAndCli;
}

/// <summary>
/// The OpenSSL engine against real TLS peers over 127.0.0.1 sockets: .NET's SslStream on either side, and
/// the openssl command as s_server and s_client. The engine side is a blocking test pump (<see cref="SocketTls"/>).
/// </summary>
public sealed class OpenSslInteropTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly string _folder = Directory.CreateTempSubdirectory("asyncore-tls-").FullName;
    private readonly List<Process> _started = [];

    public void Dispose()
    {
        // An openssl left waiting by a failed assertion is stopped here, not left behind.
        foreach (Process process in _started)
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(5_000);
            }

            process.Dispose();
        }

        Directory.Delete(_folder, recursive: true);
    }

    private static Socket Listen()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(4);
        return listener;
    }

    private static Socket Connect(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        return socket;
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public void EngineClientTalksToSslStreamServer(SslProtocols protocol)
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        byte[] payload = RandomNumberGenerator.GetBytes(1024 * 1024);
        const int Chunk = 64 * 1024;
        Task<(SslProtocols, TlsCipherSuite, SslApplicationProtocol, string, int)> server = Task.Run(async () =>
        {
            using Socket accepted = await listener.AcceptAsync();
            await using var ssl = new SslStream(new NetworkStream(accepted, ownsSocket: false));
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = TestCertificates.Server,
                EnabledSslProtocols = protocol,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
            });
            // Echo every byte until the client's close_notify, then answer with ours.
            byte[] buffer = new byte[Chunk];
            int total = 0, n;
            while ((n = await ssl.ReadAsync(buffer)) > 0)
            {
                await ssl.WriteAsync(buffer.AsMemory(0, n));
                total += n;
            }

            await ssl.ShutdownAsync();
            return (ssl.SslProtocol, ssl.NegotiatedCipherSuite, ssl.NegotiatedApplicationProtocol, ssl.TargetHostName, total);
        });

        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "example.test",
            CertificateChainPolicy = TestCertificates.TrustTestCa(),
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        };
        using (var tls = new SocketTls(new OpenSslEngine(options), Connect(port)))
        {
            tls.Handshake();
            Assert.Equal(protocol, tls.Engine.Protocol);
            Assert.Equal(SslApplicationProtocol.Http11, tls.Engine.ApplicationProtocol);
            for (int at = 0; at < payload.Length; at += Chunk)
            {
                tls.Write(payload.AsSpan(at, Chunk));
                Assert.Equal(payload.AsSpan(at, Chunk).ToArray(), tls.ReadExactly(Chunk));
            }

            tls.Engine.Shutdown();
            tls.Write([]);
            Assert.Empty(tls.ReadToEnd());
            Assert.Equal(0, tls.Read(new byte[1])); // close_notify came, not a bare EOF
        }

        Assert.True(server.Wait(Limit), "the SslStream server did not finish");
        (SslProtocols p, TlsCipherSuite suite, SslApplicationProtocol alpn, string sni, int echoed) = server.Result;
        Assert.Equal(protocol, p);
        Assert.Equal(SslApplicationProtocol.Http11, alpn);
        Assert.Equal("example.test", sni);
        Assert.Equal(payload.Length, echoed);
        Assert.NotEqual(TlsCipherSuite.TLS_NULL_WITH_NULL_NULL, suite);
    }

    [OpenSslTheory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public void EngineServerTalksToSslStreamClientWithItsCertificate(SslProtocols protocol)
    {
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        Task<(SslProtocols, TlsCipherSuite, SslApplicationProtocol, string?, string)> client = Task.Run(async () =>
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            await using var ssl = new SslStream(tcp.GetStream());
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                EnabledSslProtocols = protocol,
                CertificateChainPolicy = TestCertificates.TrustTestCa(),
                ClientCertificates = [TestCertificates.Client],
                ApplicationProtocols = [SslApplicationProtocol.Http11, SslApplicationProtocol.Http2],
            });
            await ssl.WriteAsync("ping\n"u8.ToArray());
            using var reader = new StreamReader(ssl, Encoding.ASCII);
            string rest = await reader.ReadToEndAsync(); // ends at the server's close_notify
            return (ssl.SslProtocol, ssl.NegotiatedCipherSuite, ssl.NegotiatedApplicationProtocol, ssl.RemoteCertificate?.Subject, rest);
        });

        var options = new SslServerAuthenticationOptions
        {
            ServerCertificate = TestCertificates.Server,
            ClientCertificateRequired = true,
            CertificateChainPolicy = TestCertificates.TrustTestCa(),
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        };
        Assert.True(listener.Poll(Limit, SelectMode.SelectRead), "SslStream did not connect");
        using (var tls = new SocketTls(new OpenSslEngine(options), listener.Accept()))
        {
            tls.Handshake();
            Assert.Equal(protocol, tls.Engine.Protocol);
            Assert.Equal(SslApplicationProtocol.Http2, tls.Engine.ApplicationProtocol);
            Assert.Equal("localhost", tls.Engine.TargetHostName);
            Assert.Equal(TestCertificates.Client.Thumbprint, tls.Engine.RemoteCertificate?.Thumbprint);
            Assert.Equal("ping\n", Encoding.ASCII.GetString(tls.ReadExactly(5)));
            tls.Write("PONG\n"u8);
            tls.Close();
        }

        Assert.True(client.Wait(Limit), "the SslStream client did not finish");
        (SslProtocols p, TlsCipherSuite suite, SslApplicationProtocol alpn, string? subject, string rest) = client.Result;
        Assert.Equal(protocol, p);
        Assert.Equal(SslApplicationProtocol.Http2, alpn);
        Assert.Equal("CN=localhost", subject);
        Assert.Equal("PONG\n", rest);
        Assert.NotEqual(TlsCipherSuite.TLS_NULL_WITH_NULL_NULL, suite);
    }

    [OpenSslCliTheory]
    [InlineData("-tls1_2", SslProtocols.Tls12)]
    [InlineData("-tls1_3", SslProtocols.Tls13)]
    public void EngineClientFetchesFromOpenSslServer(string flag, SslProtocols protocol)
    {
        TestCertificates.WritePem(_folder);
        Process server = Start(
            "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-www", flag, "-alpn", "http/1.1",
            "-cert", Pem("server.pem"), "-key", Pem("server.key"),
            "-Verify", "1", "-CAfile", Pem("ca.pem"));
        int port = AcceptPort(server);

        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            CertificateChainPolicy = TestCertificates.TrustTestCa(),
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            ClientCertificates = [TestCertificates.Client],
        };
        string page;
        using (var tls = new SocketTls(new OpenSslEngine(options), Connect(port)))
        {
            tls.Handshake();
            Assert.Equal(protocol, tls.Engine.Protocol);
            Assert.Equal(SslApplicationProtocol.Http11, tls.Engine.ApplicationProtocol);
            Assert.Equal(TestCertificates.Server.Thumbprint, tls.Engine.RemoteCertificate?.Thumbprint);
            tls.Write("GET / HTTP/1.0\r\n\r\n"u8);
            page = Encoding.ASCII.GetString(tls.ReadToEnd());
            if (protocol == SslProtocols.Tls13)
            {
                // TLS 1.3 suites have one name in OpenSSL and IANA: the enum's name is what s_server reports.
                Assert.Contains($"Cipher is {tls.Engine.CipherSuite}", page, StringComparison.Ordinal);
            }
        }

        Assert.StartsWith("HTTP/1.0 200 ok", page, StringComparison.Ordinal);
        Assert.Contains(protocol == SslProtocols.Tls13 ? "New, TLSv1.3" : "New, TLSv1.2", page, StringComparison.Ordinal);
        // s_server asked for a certificate (-Verify 1) and shows the one it got.
        Assert.Contains("Asyncore Test Client", page, StringComparison.Ordinal);
        Assert.True(server.WaitForExit(20_000), "s_server did not exit after its one connection");
    }

    [OpenSslCliTheory]
    [InlineData("-tls1_2")]
    [InlineData("-tls1_3")]
    public void EngineClientSeesTheIssuersOpenSslServerAccepts(string flag)
    {
        TestCertificates.WritePem(_folder);
        Process server = Start(
            "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-www", flag,
            "-cert", Pem("server.pem"), "-key", Pem("server.key"), "-Verify", "1", "-CAfile", Pem("ca.pem"));
        int port = AcceptPort(server);
        string[] issuers = [];
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            CertificateChainPolicy = TestCertificates.TrustTestCa(),
            ClientCertificates = [TestCertificates.Client],
            LocalCertificateSelectionCallback = (_, _, local, _, acceptable) =>
            {
                issuers = acceptable;
                return local[0];
            },
        };
        using (var tls = new SocketTls(new OpenSslEngine(options), Connect(port)))
        {
            tls.Handshake();
            tls.Write("GET / HTTP/1.0\r\n\r\n"u8);
            Assert.Contains("Asyncore Test Client", Encoding.ASCII.GetString(tls.ReadToEnd()), StringComparison.Ordinal);
        }

        Assert.Equal(["CN=Asyncore Test CA"], issuers);
        Assert.True(server.WaitForExit(20_000), "s_server did not exit after its one connection");
    }

    [OpenSslCliTheory]
    [InlineData("-tls1_2", SslProtocols.Tls12)]
    [InlineData("-tls1_3", SslProtocols.Tls13)]
    public void OpenSslClientTalksToEngineServer(string flag, SslProtocols protocol)
    {
        TestCertificates.WritePem(_folder);
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        Process client = Start(
            "s_client", "-connect", $"127.0.0.1:{port}", "-servername", "example.test", flag, "-alpn", "h2",
            "-CAfile", Pem("ca.pem"), "-verify_return_error", "-verify_hostname", "example.test",
            "-cert", Pem("client.pem"), "-key", Pem("client.key"), "-ign_eof");
        client.StandardInput.Write("ping\n");
        client.StandardInput.Close();
        Task<string> output = client.StandardOutput.ReadToEndAsync();
        Task<string> errors = client.StandardError.ReadToEndAsync();

        var options = new SslServerAuthenticationOptions
        {
            ServerCertificate = TestCertificates.Server,
            ClientCertificateRequired = true,
            CertificateChainPolicy = TestCertificates.TrustTestCa(),
            ApplicationProtocols = [SslApplicationProtocol.Http11, SslApplicationProtocol.Http2],
        };
        Assert.True(listener.Poll(Limit, SelectMode.SelectRead), "s_client did not connect");
        using (var tls = new SocketTls(new OpenSslEngine(options), listener.Accept()))
        {
            tls.Handshake();
            Assert.Equal(protocol, tls.Engine.Protocol);
            Assert.Equal("example.test", tls.Engine.TargetHostName);
            Assert.Equal(SslApplicationProtocol.Http2, tls.Engine.ApplicationProtocol);
            Assert.Equal(TestCertificates.Client.Thumbprint, tls.Engine.RemoteCertificate?.Thumbprint);
            Assert.Equal("ping\n", Encoding.ASCII.GetString(tls.ReadExactly(5)));
            tls.Write("pong from the engine\n"u8);
            tls.Close();
        }

        Assert.True(client.WaitForExit(20_000), "s_client did not exit after close_notify");
        Assert.True(output.Wait(Limit));
        string printed = output.Result + errors.Result;
        Assert.Contains("pong from the engine", printed, StringComparison.Ordinal);
        Assert.Contains("Verify return code: 0 (ok)", printed, StringComparison.Ordinal);
        Assert.Contains("ALPN protocol: h2", printed, StringComparison.Ordinal);
        Assert.Contains(protocol == SslProtocols.Tls13 ? "TLSv1.3" : "TLSv1.2", printed, StringComparison.Ordinal);
    }

    [OpenSslCliTheory]
    [InlineData("-tls1_3")]
    public void OpenSslClientRefusesTheEngineServerUnderAnotherName(string flag)
    {
        TestCertificates.WritePem(_folder);
        using Socket listener = Listen();
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        Process client = Start(
            "s_client", "-connect", $"127.0.0.1:{port}", "-servername", "wrong.test", flag,
            "-CAfile", Pem("ca.pem"), "-verify_return_error", "-verify_hostname", "wrong.test");
        client.StandardInput.Close();
        Task<string> output = client.StandardOutput.ReadToEndAsync();
        Task<string> errors = client.StandardError.ReadToEndAsync();

        Assert.True(listener.Poll(Limit, SelectMode.SelectRead), "s_client did not connect");
        using (var tls = new SocketTls(new OpenSslEngine(new SslServerAuthenticationOptions { ServerCertificate = TestCertificates.Server }), listener.Accept()))
        {
            // s_client's alert names the failure; the engine reports it in OpenSSL's words.
            var e = Assert.ThrowsAny<Exception>(() => tls.Handshake());
            Assert.True(e is AuthenticationException or IOException, e.ToString());
            Assert.Contains("SSL routines", e.Message, StringComparison.Ordinal);
        }

        Assert.True(client.WaitForExit(20_000));
        Assert.True(errors.Wait(Limit) && output.Wait(Limit));
        Assert.Contains("hostname mismatch", output.Result + errors.Result, StringComparison.Ordinal);
    }

    private string Pem(string name) => System.IO.Path.Combine(_folder, name);

    private Process Start(params string[] arguments)
    {
        var start = new ProcessStartInfo(Needs.PathOf(Outside.OpenSsl))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException("openssl did not start");
        _started.Add(process);
        return process;
    }

    /// <summary>s_server prints "ACCEPT 127.0.0.1:PORT" once it listens (the real port for :0).</summary>
    private static int AcceptPort(Process server)
    {
        Task<string?> line = server.StandardOutput.ReadLineAsync();
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < Limit)
        {
            if (!line.Wait(Limit - stopwatch.Elapsed) || line.Result is null)
            {
                break;
            }

            Match match = Regex.Match(line.Result, @"^ACCEPT .*:(\d+)$");
            if (match.Success)
            {
                return int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }

            line = server.StandardOutput.ReadLineAsync();
        }

        server.Kill();
        throw new InvalidOperationException($"s_server did not say where it listens: {server.StandardError.ReadToEnd()}");
    }
}
