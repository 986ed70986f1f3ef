using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Smtp;

namespace Asyncore.Tests.Http;

/// <summary>
/// Every log field a client chooses, tried with CR, LF, ESC and bytes that are not UTF-8: the HTTP
/// sample's access log (the address a PROXY header claims, the request line, User-Agent, Referer)
/// and the SMTP sample's delivery line. Each answer must stay one line of printable ASCII, with the
/// client's bytes shown as \xHH, as nginx writes them.
/// </summary>
public sealed class AccessLogTests
{
    /// <summary>The log holds <paramref name="lines"/> lines, each printable ASCII only (no CR, no ESC, nothing above 0x7E).</summary>
    private static string[] AssertCleanLines(string log, int lines)
    {
        string[] all = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(all.Length == lines, $"{all.Length} lines where {lines} were written:\n{log}");
        foreach (string line in all)
        {
            int bad = line.AsSpan().IndexOfAnyExceptInRange((char)0x20, (char)0x7e);
            Assert.True(bad < 0, $"a raw U+{(bad < 0 ? 0 : line[bad]):X4} in the log line: {line}");
        }

        return all;
    }

    [Fact]
    public void TheAddressAProxyHeaderClaimsIsEscaped()
    {
        // A PROXY v2 header for an AF_UNIX stream whose source "path" is a forged log line of its own.
        byte[] path = [.. "/x\r\n10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /admin HTTP/1.1\" 200 1\x1b[31m"u8, 0xE9];
        byte[] block = new byte[216];
        path.CopyTo(block, 0);
        byte[] header = [.. "\r\n\r\n\0\r\nQUIT\n"u8, 0x21, 0x31, 0, 216, .. block];
        using var server = new HttpTestServer(configure: o => o with { ProxyProtocol = true });
        string answer = Encoding.Latin1.GetString(server.RawBytes([.. header, .. "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8]));
        Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(answer));

        string line = Assert.Single(AssertCleanLines(server.Log, 1));
        // The library decodes the path as UTF-8, so the lone 0xE9 arrives as U+FFFD (EF BF BD).
        Assert.StartsWith("/x\\x0D\\x0A10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \\x22GET /admin HTTP/1.1\\x22 200 1\\x1B[31m\\xEF\\xBF\\xBD - - [", line);
        Assert.EndsWith("\"GET / HTTP/1.1\" 200 " + (answer.Length - answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) - 4) + " \"-\" \"-\"", line);
    }

    [Theory]
    [InlineData("10.0.0.0/8", false)]
    [InlineData("127.0.0.1/32", true)]
    public void WithProxyFromOnlyTheProxiesMayClaimAnAddress(string network, bool trusted)
    {
        using var server = new HttpTestServer(configure: o => o with { ProxyProtocol = true, ProxyFrom = [System.Net.IPNetwork.Parse(network)] });
        string answer = server.Raw("PROXY TCP4 203.0.113.9 10.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if (trusted)
        {
            Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(answer));
            Assert.StartsWith("203.0.113.9 - - [", server.Log);
        }
        else
        {
            Assert.Equal("", answer); // closed without an answer: the header was not believed, and nothing was served
            Assert.DoesNotContain("203.0.113.9", server.Log);
        }
    }

    [Fact]
    public void TheRequestLineIsEscaped()
    {
        using var server = new HttpTestServer();
        // CR and ESC are refused (400), and logged escaped; LF ends the line, so what follows it is the next line of the head.
        string refused = server.Raw("GET /a\rb\x1b[2J\xe9\"q HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("HTTP/1.1 400 Bad Request", HttpTestServer.StatusLine(refused));
        string bareLf = server.Raw("GET /a\nb HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("HTTP/1.1 400 Bad Request", HttpTestServer.StatusLine(bareLf));
        string notUtf8 = server.Raw("GET /caf\xe9\xff HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("HTTP/1.1 400 Bad Request", HttpTestServer.StatusLine(notUtf8)); // a path that is not UTF-8

        string[] lines = AssertCleanLines(server.Log, 3);
        Assert.Contains("\"GET /a\\x0Db\\x1B[2J\\xE9\\x22q HTTP/1.1\" 400 ", lines[0]);
        Assert.Contains("\"GET /a\" 400 ", lines[1]);
        Assert.Contains("\"GET /caf\\xE9\\xFF HTTP/1.1\" 400 ", lines[2]);
    }

    [Theory]
    [InlineData("User-Agent")]
    [InlineData("Referer")]
    public void UserAgentAndRefererAreLoggedEscaped(string field)
    {
        using var server = new HttpTestServer();
        // Bytes a field may carry (obs-text, not UTF-8), quotes and backslashes: logged, escaped.
        server.Raw($"GET / HTTP/1.1\r\nHost: x\r\n{field}: Mozilla\xe9\xff \"5.0\" \\ end\r\nConnection: close\r\n\r\n");
        // CR, ESC and LF inside a field are refused with 400 before the field is taken: the log shows "-".
        string cr = server.Raw($"GET /cr HTTP/1.1\r\nHost: x\r\n{field}: a\rb\r\n\r\n");
        string esc = server.Raw($"GET /esc HTTP/1.1\r\nHost: x\r\n{field}: \x1b[31mred\r\n\r\n");
        string lf = server.Raw($"GET /lf HTTP/1.1\r\nHost: x\r\n{field}: one\n10.0.0.1 - - forged\r\n\r\n");
        Assert.All(new[] { cr, esc, lf }, a => Assert.Equal("HTTP/1.1 400 Bad Request", HttpTestServer.StatusLine(a)));

        string[] lines = AssertCleanLines(server.Log, 4);
        string expected = "\"Mozilla\\xE9\\xFF \\x225.0\\x22 \\x5C end\"";
        Assert.EndsWith(field == "Referer" ? $" {expected} \"-\"" : $" \"-\" {expected}", lines[0]);
        Assert.EndsWith(" \"-\" \"-\"", lines[1]);
        Assert.EndsWith(" \"-\" \"-\"", lines[2]);
        // The LF ended the field: its first line is the value, the rest a malformed field (400).
        Assert.EndsWith(field == "Referer" ? " \"one\" \"-\"" : " \"-\" \"one\"", lines[3]);
    }

    [Fact]
    public void TheSmtpDeliveryLineIsEscaped()
    {
        // The channel refuses control characters in addresses (501); the line is escaped all the same.
        var envelope = new SmtpEnvelope(
            new UnixDomainSocketEndPoint("/p\n10.0.0.1: <a@b.c> -> <d@e.f>"),
            "ada\x1b[31m@example.org",
            ["bob\r\n@example.org", "caf\u00e9@example.org"],
            []);
        string line = envelope.LogLine(42, "new/1.M2P3Q4.host");
        AssertCleanLines(line, 1);
        Assert.Equal(
            "/p\\x0A10.0.0.1: <a@b.c> -> <d@e.f>: <ada\\x1B[31m@example.org> -> <bob\\x0D\\x0A@example.org>, <caf\\xC3\\xA9@example.org>, 42 bytes -> new/1.M2P3Q4.host",
            line);
        Assert.Equal("127.0.0.1:25: <a@b.c> -> <d@e.f>, 7 bytes -> new/x", new SmtpEnvelope(new IPEndPoint(IPAddress.Loopback, 25), "a@b.c", ["d@e.f"], []).LogLine(7, "new/x"));
    }
}
