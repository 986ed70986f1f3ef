using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>
/// The samples as a server behind a load balancer runs them, each in its own process over loopback:
/// --loops (one SO_REUSEPORT listener per loop), HttpServer --proxy-protocol, and the graceful drain
/// on SIGTERM.
/// </summary>
public partial class ScaleOutSampleTests
{
    private static Socket Connect(IPEndPoint at)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 15_000 };
        s.Connect(at);
        return s;
    }

    private static string ReadToEnd(Socket s) => Encoding.Latin1.GetString(Drive.ReadToEnd(s));

    /// <summary>Reads until <paramref name="count"/> occurrences of <paramref name="marker"/> arrived (the socket's timeout bounds it).</summary>
    private static string ReadUntil(Socket s, string marker, int count = 1)
    {
        var text = new StringBuilder();
        var buffer = new byte[65536];
        while (Regex.Matches(text.ToString(), Regex.Escape(marker)).Count < count)
        {
            int n = s.Receive(buffer);
            if (n == 0)
            {
                break;
            }

            text.Append(Encoding.Latin1.GetString(buffer, 0, n));
        }

        return text.ToString();
    }

    private static int[] AcceptedPerLoop(SampleProcess server)
    {
        string line = server.Stdout.Last(l => l.Contains("connections accepted per loop:", StringComparison.Ordinal));
        return line[(line.IndexOf(':') + 1)..].Split(',').Select(n => int.Parse(n.Trim())).ToArray();
    }

    private static int Count(string text, string what) => Regex.Matches(text, Regex.Escape(what)).Count;

    [Theory]
    [InlineData("HttpServer")]
    [InlineData("PingServer")]
    public void TwoLoopsServeEveryConnectionAndTheKernelSpreadsThemOverBoth(string program)
    {
        string[] args = program == "HttpServer" ? ["--loops", "2", "--quiet"] : ["--loops", "2"];
        using var server = SampleProcess.StartServer(program, out IPEndPoint at, args);
        Assert.Contains(server.Stdout, l => l.Contains("2 loops", StringComparison.Ordinal));
        const int Connections = 64;
        for (int i = 0; i < Connections; i++)
        {
            using Socket s = Connect(at);
            if (program == "HttpServer")
            {
                s.Send("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"u8);
                string answer = ReadToEnd(s);
                Assert.StartsWith("HTTP/1.1 200 OK\r\n", answer);
                Assert.Contains("Hello, World!", answer);
            }
            else
            {
                s.Send("PING\r\nQUIT\r\n"u8);
                Assert.Equal("+PONG\r\n+OK\r\n", ReadToEnd(s));
            }
        }

        Assert.Equal(0, server.Stop());
        int[] perLoop = AcceptedPerLoop(server);
        Assert.Equal(2, perLoop.Length);
        Assert.Equal(Connections, perLoop.Sum());
        Assert.All(perLoop, n => Assert.True(n > 0, $"one loop took every connection: {string.Join(", ", perLoop)}"));
    }

    [Fact]
    public void ASecondServerOnAPortTheFirstSharesWithItsLoopsIsStillRefused()
    {
        using var first = SampleProcess.StartServer("HttpServer", out IPEndPoint at, "--loops", "2", "--quiet");
        var (code, stdout, stderr) = SampleProcess.Run("HttpServer", "--port", at.Port.ToString(), "--loops", "2");
        Assert.Equal(1, code);
        Assert.Contains(stderr, l => l.Contains($"cannot listen on 127.0.0.1:{at.Port}: the port is already in use", StringComparison.Ordinal));
        Assert.Empty(stdout);
    }

    /// <summary>A PROXY v2 header (HAProxy's send-proxy-v2) for a TCP connection from <paramref name="source"/> to <paramref name="destination"/>.</summary>
    private static byte[] ProxyV2(IPEndPoint source, IPEndPoint destination)
    {
        bool v6 = source.AddressFamily == AddressFamily.InterNetworkV6;
        var header = new List<byte>("\r\n\r\n\0\r\nQUIT\n"u8.ToArray())
        {
            0x21, // version 2, PROXY
            (byte)(v6 ? 0x21 : 0x11), // TCP over IPv6 / IPv4
        };
        int length = v6 ? 36 : 12;
        header.Add((byte)(length >> 8));
        header.Add((byte)length);
        header.AddRange(source.Address.GetAddressBytes());
        header.AddRange(destination.Address.GetAddressBytes());
        header.AddRange([(byte)(source.Port >> 8), (byte)source.Port, (byte)(destination.Port >> 8), (byte)destination.Port]);
        return header.ToArray();
    }

    [Fact]
    public void WithProxyProtocolTheAccessLogShowsTheAddressV1AndV2HeadersCarry()
    {
        using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, "--proxy-protocol", "--loops", "2");
        Assert.Contains(server.Stdout, l => l.Contains("PROXY protocol required", StringComparison.Ordinal));

        using (Socket v1 = Connect(at))
        {
            // The header, then two keep-alive requests, in one write.
            v1.Send(Encoding.ASCII.GetBytes($"PROXY TCP4 192.0.2.10 127.0.0.1 40000 {at.Port}\r\nGET /?v1 HTTP/1.1\r\nHost: a\r\n\r\nGET /index.html?v1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
            string answers = ReadToEnd(v1);
            Assert.Equal(2, Count(answers, "HTTP/1.1 200 OK"));
        }

        using (Socket v2 = Connect(at))
        {
            // The header in two pieces, the request after it.
            byte[] header = ProxyV2(new IPEndPoint(IPAddress.Parse("2001:db8::7"), 51000), new IPEndPoint(IPAddress.Parse("2001:db8::1"), 443));
            v2.Send(header.AsSpan(0, 10));
            Thread.Sleep(50);
            byte[] rest = [.. header.AsSpan(10), .. "GET /?v2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"u8];
            v2.Send(rest);
            Assert.StartsWith("HTTP/1.1 200 OK", ReadToEnd(v2));
        }

        using (Socket v2 = Connect(at))
        {
            byte[] wire = [.. ProxyV2(new IPEndPoint(IPAddress.Parse("198.51.100.7"), 51001), new IPEndPoint(IPAddress.Loopback, at.Port)), .. "GET /?v2ipv4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"u8];
            v2.Send(wire);
            Assert.StartsWith("HTTP/1.1 200 OK", ReadToEnd(v2));
        }

        Assert.Equal(0, server.Stop());
        string[] log = server.Stdout.Where(l => l.Contains("\"GET ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(4, log.Length);
        Assert.StartsWith("192.0.2.10 - - [", log.Single(l => l.Contains("\"GET /?v1 ", StringComparison.Ordinal)));
        Assert.StartsWith("192.0.2.10 - - [", log.Single(l => l.Contains("\"GET /index.html?v1 ", StringComparison.Ordinal)));
        Assert.StartsWith("2001:db8::7 - - [", log.Single(l => l.Contains("\"GET /?v2 ", StringComparison.Ordinal)));
        Assert.StartsWith("198.51.100.7 - - [", log.Single(l => l.Contains("\"GET /?v2ipv4 ", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\r\n")] // no header at all
    [InlineData("PROXY TCP4 192.0.2.10 127.0.0.1 40000\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")] // a port missing
    [InlineData("PROXY TCP4 192.0.2.010 127.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")] // a leading zero
    [InlineData("\r\n\r\n\0\r\nQUIT\n\u0031\u0011\0\u000cGET / HTTP/1.1\r\n\r\n")] // v2 signature, version 3
    [InlineData("\u0016\u0003\u0001\u0002\0\u0001\0\u0001\u00fc\u0003\u0003")] // a TLS ClientHello
    public void AConnectionWithoutAValidHeaderIsClosedWithoutAnAnswer(string wire)
    {
        using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, "--proxy-protocol", "--loops", "1");
        using Socket s = Connect(at);
        s.Send(Encoding.Latin1.GetBytes(wire));
        var clock = Stopwatch.StartNew();
        Assert.Equal("", ReadToEnd(s));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "closed only by a timeout");
        Assert.Equal(0, server.Stop());
        Assert.DoesNotContain(server.Stdout, l => l.Contains("\"GET", StringComparison.Ordinal) || l.Contains(" 400 ", StringComparison.Ordinal));
    }

    [Fact]
    public void AHeaderThatNeverArrivesIsCutByTheRequestTimeout()
    {
        using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, "--proxy-protocol", "--loops", "1", "--request-timeout", "1");
        using Socket silent = Connect(at);
        using Socket partial = Connect(at);
        partial.Send("PROXY TCP4 192.0.2.10 "u8);
        var clock = Stopwatch.StartNew();
        Assert.Equal("", ReadToEnd(silent));
        Assert.Equal("", ReadToEnd(partial));
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(8));
        Assert.Equal(0, server.Stop());
    }

    /// <summary>Connecting is refused once the listeners closed (the signal is handled within moments).</summary>
    private static void AssertRefusedSoon(IPEndPoint at)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            try
            {
                using Socket late = Connect(at);
                Thread.Sleep(20); // accepted before the drain began: it is then closed as idle
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return;
            }
        }

        Assert.Fail("the listeners were still open 5 s after SIGTERM");
    }

    [Fact]
    public void SigtermDrainsHttpARequestInProgressPipelinedRequestsAndAnIdleKeepAliveConnection()
    {
        using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, "--loops", "2");

        using Socket idle = Connect(at);
        idle.Send("GET /?idle HTTP/1.1\r\nHost: a\r\n\r\n"u8);
        Assert.EndsWith("Hello, World!\nThis is the HTTP server sample of Asyncore (Python's asyncore and asynchat for .NET).\n", ReadUntil(idle, "(Python's asyncore and asynchat for .NET).\n"));

        using Socket inProgress = Connect(at);
        inProgress.Send("GET /?in-progress HTTP/1.1\r\nHost: a\r\n"u8);

        // Two whole requests and half of a third, pipelined.
        using Socket pipelined = Connect(at);
        pipelined.Send("GET /?p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /?p2 HTTP/1.1\r\nHost: a\r\n\r\nGET /?p3 HTTP/1.1\r\n"u8);
        Assert.Equal(2, Count(ReadUntil(pipelined, "HTTP/1.1 200 OK", 2), "HTTP/1.1 200 OK"));

        server.Terminate();
        var clock = Stopwatch.StartNew();
        Assert.Equal("", ReadToEnd(idle)); // an idle keep-alive connection is closed at once, without a word
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        AssertRefusedSoon(at);
        Assert.Null(server.WaitForExit(TimeSpan.FromMilliseconds(300))); // two requests are still in progress

        // The rest of the third request and a fourth, in one write: both are answered, the fourth
        // (the last one received) with Connection: close, and the connection closes after it.
        pipelined.Send("Host: a\r\n\r\nGET /?p4 HTTP/1.1\r\nHost: a\r\n\r\n"u8);
        string rest = ReadToEnd(pipelined);
        Assert.Equal(2, Count(rest, "HTTP/1.1 200 OK"));
        Assert.Equal(1, Count(rest, "Connection: close"));
        Assert.True(rest.LastIndexOf("HTTP/1.1 200 OK", StringComparison.Ordinal) < rest.IndexOf("Connection: close", StringComparison.Ordinal));

        inProgress.Send("\r\n"u8);
        string last = ReadToEnd(inProgress);
        Assert.Equal(1, Count(last, "HTTP/1.1 200 OK"));
        Assert.Contains("\r\nConnection: close\r\n", last);
        Assert.EndsWith("for .NET).\n", last);

        Assert.Equal(0, server.WaitForExit(TimeSpan.FromSeconds(10)));
        string[] log = server.Stdout;
        foreach (string request in new[] { "idle", "in-progress", "p1", "p2", "p3", "p4" })
        {
            Assert.Single(log, l => l.Contains($"\"GET /?{request} HTTP/1.1\" 200 ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void TheDrainTimeoutClosesWhatIsLeftAndTheServerStillExitsZero()
    {
        using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, "--loops", "1", "--drain-timeout", "1", "--request-timeout", "0");
        using Socket never = Connect(at);
        never.Send("GET / HTTP/1.1\r\nHost: a\r\n"u8); // never finished
        Thread.Sleep(200);
        server.Terminate();
        var clock = Stopwatch.StartNew();
        Assert.Equal("", ReadToEnd(never));
        Assert.Equal(0, server.WaitForExit(TimeSpan.FromSeconds(10)));
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(8));
        Assert.Contains(server.Stderr, l => l.Contains("drain timeout (1 s)", StringComparison.Ordinal));
    }

    [Fact]
    public void SigtermDrainsPingACommandInProgressIsAnsweredAndIdleConnectionsClose()
    {
        using var server = SampleProcess.StartServer("PingServer", out IPEndPoint at, "--loops", "2");
        using Socket idle = Connect(at);
        idle.Send("PING\r\n"u8);
        Assert.Equal("+PONG\r\n", ReadUntil(idle, "\r\n"));
        using Socket busy = Connect(at);
        busy.Send("*2\r\n$4\r\nPING\r\n"u8); // one argument of two
        Thread.Sleep(200);

        server.Terminate();
        Assert.Equal("", ReadToEnd(idle));
        AssertRefusedSoon(at);
        busy.Send("$5\r\nhello\r\n"u8);
        Assert.Equal("$5\r\nhello\r\n", ReadToEnd(busy)); // answered, then closed: RESP has no goodbye
        Assert.Equal(0, server.WaitForExit(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void SigtermDrainsSmtpAMessageInProgressIsDeliveredThen421()
    {
        string maildir = Directory.CreateTempSubdirectory("asyncore-drain-mail-").FullName;
        try
        {
            using var server = SampleProcess.StartServer("SmtpServer", out IPEndPoint at, "--maildir", maildir);
            using Socket between = Connect(at);
            Assert.StartsWith("220 ", ReadUntil(between, "\r\n"));
            between.Send("EHLO client.example\r\n"u8);
            ReadUntil(between, "250 ");

            using Socket sending = Connect(at);
            Assert.StartsWith("220 ", ReadUntil(sending, "\r\n"));
            sending.Send("HELO client.example\r\nMAIL FROM:<ada@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"u8);
            Assert.Contains("354 ", ReadUntil(sending, "354 "));
            sending.Send("Subject: drain\r\n\r\nfirst half\r\n"u8);
            Thread.Sleep(200);

            server.Terminate();
            string goodbye = ReadToEnd(between);
            Assert.StartsWith("421 4.3.2 ", goodbye);
            Assert.Contains("Service shutting down", goodbye);
            AssertRefusedSoon(at);

            sending.Send("second half\r\n.\r\n"u8);
            string end = ReadToEnd(sending);
            Assert.StartsWith("250 OK\r\n421 4.3.2 ", end);
            Assert.Equal(0, server.WaitForExit(TimeSpan.FromSeconds(10)));

            string message = Assert.Single(Directory.GetFiles(Path.Combine(maildir, "new")));
            Assert.Equal("Subject: drain\r\n\r\nfirst half\r\nsecond half\r\n", File.ReadAllText(message));
        }
        finally
        {
            Directory.Delete(maildir, recursive: true);
        }
    }
}
