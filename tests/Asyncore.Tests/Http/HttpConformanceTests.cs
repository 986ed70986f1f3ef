using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Http;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Http;

/// <summary>
/// The HTTP sample's byte-level rules (RFC 9112 and what nginx does), over raw sockets, plus
/// HttpClient and curl where a real client shows the same: Host, control bytes, bare LF, 100-continue,
/// chunked bodies, the access log, UTF-8 paths, the request deadline.
/// </summary>
public sealed class HttpConformanceTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("asyncore-http-conf-").FullName;

    public HttpConformanceTests()
    {
        File.WriteAllText(Path.Combine(_root, "héllo.txt"), "bonjour");
        File.WriteAllText(Path.Combine(_root, "plain.txt"), "plain");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string Body(string response) => response.Split("\r\n\r\n", 2)[1];

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost:\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nX-A: one\0two\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nX-A: one\rtwo\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nX-A: \x1b]0;pwned\x07\r\n\r\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")]
    [InlineData("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")]
    public void MalformedHeadsGet400AndTheConnectionCloses(string request)
    {
        using var server = new HttpTestServer();
        string response = server.Raw(request, halfClose: false);
        Assert.Equal("HTTP/1.1 400 Bad Request", HttpTestServer.StatusLine(response));
        Assert.Contains("Connection: close", response);
        Assert.StartsWith("400 Bad Request: ", Body(response));
    }

    [Fact]
    public void Http10WithoutHostIsServed()
    {
        using var server = new HttpTestServer();
        Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(server.Raw("GET / HTTP/1.0\r\n\r\n", halfClose: false)));
    }

    [Fact]
    public void BareLfLineEndsAreAcceptedAtOnce()
    {
        using var server = new HttpTestServer();
        var clock = Stopwatch.StartNew();
        string response = server.Raw(
            "GET / HTTP/1.1\nHost: x\n\n" +
            "GET /nothing HTTP/1.1\r\nHost: x\n\r\n" +
            "POST /echo HTTP/1.1\nHost: x\nContent-Length: 3\n\na=b" +
            "GET / HTTP/1.1\nHost: x\nConnection: close\n\n", halfClose: false);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal(["HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK"], HttpTestServer.Statuses(response));
        Assert.Contains("\r\n\r\na=b\n", response);
    }

    [Fact]
    public void ExpectContinueGets100BeforeTheBodyIsSent()
    {
        using var server = new HttpTestServer();
        using Socket s = server.Connect();
        s.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n"u8);
        string interim = ReadUntil(s, "\r\n\r\n");
        Assert.Equal("HTTP/1.1 100 Continue\r\n\r\n", interim);

        s.Send("a=1&b=2"u8);
        string final = ReadUntil(s, "a=1\nb=2\n");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", final);

        // The connection is kept: a second request with the expectation, pipelined with its body.
        s.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nc=3"u8);
        string rest = Encoding.ASCII.GetString(Drive.ReadToEnd(s));
        Assert.StartsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", rest);
        Assert.EndsWith("\r\n\r\nc=3\n", rest);
    }

    [Theory]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n", "413 Content Too Large")]
    [InlineData("POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", "405 Method Not Allowed")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 200-ok\r\n\r\n", "417 Expectation Failed")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", "417 Expectation Failed")]
    public void ARefusedBodyGetsTheFinalAnswerInsteadOf100(string request, string status)
    {
        using var server = new HttpTestServer(configure: o => o with { MaxBody = 1000 });
        string response = server.Raw(request, halfClose: false);
        Assert.Equal("HTTP/1.1 " + status, HttpTestServer.StatusLine(response));
        Assert.DoesNotContain("100 Continue", response);
        Assert.Contains("Connection: close", response);
    }

    [NeedsFact(Outside.Curl)]
    public async Task HttpClientAndCurlSendTheirBodyAfter100Continue()
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true });
        using HttpClient c = server.Client();
        var request = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new StringContent("k=v", Encoding.ASCII, "application/x-www-form-urlencoded") };
        request.Headers.ExpectContinue = true;
        HttpResponseMessage r = await c.SendAsync(request);
        Assert.Equal("k=v\n", await r.Content.ReadAsStringAsync());

        var (exit, output, errors) = HttpTestServer.Curl("-H", "Expect: 100-continue", "--data", "x=1", "-w", "|%{http_code}", server.Url + "/echo");
        Assert.True(exit == 0, errors);
        Assert.Equal("x=1\n|200", Encoding.ASCII.GetString(output));
    }

    [Fact]
    public void ChunkedBodiesAreDecoded()
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true });
        string response = server.Raw(
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
            "4;ext=1\r\na=1&\r\nA\r\nb=hello+wo\r\n3 \r\nrld\r\n0\r\nX-Trailer: t\r\n\r\n" +
            "POST /echo HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\nConnection: close\n\n3\nc=3\n0\n\n");
        Assert.Equal(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"], HttpTestServer.Statuses(response));
        Assert.Contains("\r\n\r\na=1\nb=hello world\n", response);
        Assert.EndsWith("\r\n\r\nc=3\n", response);
    }

    [Theory]
    [InlineData("5\r\nabc\r\n0\r\n\r\n", "400 Bad Request")]                         // data shorter than its size: the CRLF is missing
    [InlineData("zz\r\nabc\r\n0\r\n\r\n", "400 Bad Request")]                        // not hex
    [InlineData("-1\r\nabc\r\n0\r\n\r\n", "400 Bad Request")]
    [InlineData("ffffffffffffffffff\r\n", "400 Bad Request")]                        // too large to be a size
    [InlineData("200\r\n", "413 Content Too Large")]                                // over --max-body by itself
    [InlineData("100\r\n" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n100\r\n", "413 Content Too Large")]
    public void BadChunkedBodiesAreRefused(string body, string status)
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true, MaxBody = 300 });
        string response = server.Raw("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body);
        Assert.Equal("HTTP/1.1 " + status, HttpTestServer.StatusLine(response));
        Assert.Contains("Connection: close", response);
    }

    [Theory]
    [InlineData("")]               // a chunk-size line that never ends
    [InlineData("3\r\nabc")]       // the line after a chunk's data (only CRLF belongs there)
    public void AChunkLineOver1KiBWithoutItsLfIs400AtOnce(string before)
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true });
        using Socket s = server.Connect();
        s.ReceiveTimeout = 5_000;
        s.Send(Encoding.ASCII.GetBytes("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + before));
        byte[] digits = Encoding.ASCII.GetBytes(new string('f', 4096));
        int sent = 0;
        try
        {
            // The server must answer once it has 1 KiB of the line, long before any LF: keep sending
            // until it does (or closes), the way a client streaming a huge line would.
            for (int i = 0; i < 64 && s.Available == 0; i++)
            {
                sent += s.Send(digits);
                Thread.Sleep(5);
            }
        }
        catch (SocketException)
        {
            // closed after its answer, while we were still sending
        }

        string answer = Encoding.ASCII.GetString(Drive.ReadToEnd(s));
        Assert.True(sent > 1024, "the line was not sent");
        Assert.Equal("HTTP/1.1 400 Bad Request", HttpTestServer.StatusLine(answer));
        Assert.Contains("Connection: close", answer);
    }

    [NeedsFact(Outside.Curl)]
    public async Task HttpClientAndCurlSendChunkedBodies()
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true });
        using HttpClient c = server.Client();
        var content = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes("name=Ada&x=%CF%80")));
        content.Headers.ContentType = new("application/x-www-form-urlencoded");
        var request = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        HttpResponseMessage r = await c.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("name=Ada\nx=π\n", await r.Content.ReadAsStringAsync());

        var (exit, output, errors) = HttpTestServer.Curl("-H", "Transfer-Encoding: chunked", "--data", "a=1&b=2", server.Url + "/echo");
        Assert.True(exit == 0, errors);
        Assert.Equal("a=1\nb=2\n", Encoding.ASCII.GetString(output));
    }

    [Theory]
    [InlineData("Transfer-Encoding: gzip, chunked\r\n", "501 Not Implemented")]
    [InlineData("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "400 Bad Request")]
    [InlineData("Content-Length: 5\r\nTransfer-Encoding: identity\r\n", "400 Bad Request")]
    public void SmugglingShapedHeadsAreRefused(string fields, string status)
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true });
        string response = server.Raw("POST /echo HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(["HTTP/1.1 " + status], HttpTestServer.Statuses(response));
        Assert.Contains("Connection: close", response);
    }

    [Fact]
    public void TheAccessLogEscapesControlBytes()
    {
        using var server = new HttpTestServer();
        string response = server.Raw("GET /\x1b[31mred\x1b[0m HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("HTTP/1.1 400 Bad Request", HttpTestServer.StatusLine(response));
        server.Raw("GET /caf\xc3\xa9?q=\"x\" HTTP/1.1\r\nHost: x\r\n\r\n");
        string log = server.Log;
        Assert.Contains("\"GET /\\x1B[31mred\\x1B[0m HTTP/1.1\" 400 ", log);
        Assert.Contains("\"GET /caf\\xC3\\xA9?q=\\x22x\\x22 HTTP/1.1\" 404 ", log);
        Assert.DoesNotContain('\x1b', log);
    }

    [Theory]
    [InlineData("/h\xc3\xa9llo.txt", "200 OK")]            // raw UTF-8
    [InlineData("/h%C3%A9llo.txt", "200 OK")]              // %-encoded UTF-8
    [InlineData("/h%c3%a9llo.txt", "200 OK")]
    [InlineData("/h\xe9llo.txt", "400 Bad Request")]       // raw Latin-1: not UTF-8
    [InlineData("/h%E9llo.txt", "400 Bad Request")]
    [InlineData("/plain%00.txt", "400 Bad Request")]
    [InlineData("/pl%61in.txt", "200 OK")]
    public void PathsAreUtf8(string path, string status)
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        string response = server.Raw($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("HTTP/1.1 " + status, HttpTestServer.StatusLine(response));
        if (status == "200 OK")
        {
            Assert.Contains(Body(response), new[] { "bonjour", "plain" });
        }
    }

    [Theory]
    [InlineData("GET http://x/plain.txt HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK")]
    [InlineData("GET /plain.txt HTTP/1.9\r\nHost: x\r\n\r\n", "200 OK")]   // a later HTTP/1.x is answered as HTTP/1.1
    [InlineData("GET / HTTP/2.0\r\n\r\n", "505 HTTP Version Not Supported")]
    [InlineData("\r\n\r\nGET /plain.txt HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK")]
    public void RequestLineForms(string request, string status)
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        Assert.Equal("HTTP/1.1 " + status, HttpTestServer.StatusLine(server.Raw(request)));
    }

    [Fact]
    public void ALongRequestLineIs414()
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true });
        string response = server.Raw($"GET /{new string('a', 9000)} HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("HTTP/1.1 414 URI Too Long", HttpTestServer.StatusLine(response));
        Assert.Contains("Connection: close", response);
    }

    [Fact]
    public void AHeadTrickledLineByLineIsCutOffAtTheRequestDeadline()
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true, RequestTimeout = TimeSpan.FromSeconds(1), IdleTimeout = TimeSpan.FromSeconds(30) });
        using Socket s = server.Connect();
        var clock = Stopwatch.StartNew();
        s.Send("GET / HTTP/1.1\r\nHost: x\r\n"u8);
        bool closed = false;
        for (int i = 0; i < 40 && !closed; i++)
        {
            Thread.Sleep(200);
            try
            {
                s.Send(Encoding.ASCII.GetBytes($"X-Line-{i}: slow\r\n"));
            }
            catch (SocketException)
            {
                closed = true;
                break;
            }

            closed = s.Poll(0, SelectMode.SelectRead) && s.Available == 0;
        }

        Assert.True(closed, "the trickled head was not cut off");
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.9, 4);
        Assert.Empty(Drive.ReadToEnd(s)); // closed quietly, as nginx does
    }

    [Fact]
    public void AStalledBodyIsCutOffAtTheBodyReadTimeout()
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true, RequestTimeout = TimeSpan.FromSeconds(1), BodyReadTimeout = TimeSpan.FromSeconds(1), IdleTimeout = TimeSpan.FromSeconds(30) });
        using Socket s = server.Connect();
        var clock = Stopwatch.StartNew();
        s.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"u8);
        Assert.Empty(Drive.ReadToEnd(s));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.9, 4);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASlowButSteadyUploadIsNotCutByTheRequestTimeout(bool chunked)
    {
        // nginx's client_body_timeout times each read, not the whole body: 3 s of body, a byte pair
        // every 150 ms, with a 1 s request timeout and a 1 s limit between reads, arrives whole.
        using var server = new HttpTestServer(configure: o => o with { Quiet = true, RequestTimeout = TimeSpan.FromSeconds(1), BodyReadTimeout = TimeSpan.FromSeconds(1), IdleTimeout = TimeSpan.FromSeconds(30) });
        using Socket s = server.Connect();
        string form = "k=" + new string('v', 38); // 40 bytes
        s.Send(Encoding.ASCII.GetBytes("POST /echo HTTP/1.1\r\nHost: x\r\n" + (chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: 40\r\n\r\n")));
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 40; i += 2)
        {
            Thread.Sleep(150);
            string piece = form.Substring(i, 2);
            s.Send(Encoding.ASCII.GetBytes(chunked ? $"2\r\n{piece}\r\n" : piece));
        }

        if (chunked)
        {
            s.Send("0\r\n\r\n"u8);
        }

        Assert.True(clock.Elapsed > TimeSpan.FromSeconds(2), "the body arrived faster than meant");
        string answer = ReadUntil(s, form + "\n");
        Assert.StartsWith("HTTP/1.1 200 OK", answer);
        Assert.EndsWith("\r\n\r\n" + form + "\n", answer);
    }

    [Fact]
    public void KeepAliveRequestsSpreadOverTimeAreNotCutOff()
    {
        using var server = new HttpTestServer(configure: o => o with { Quiet = true, RequestTimeout = TimeSpan.FromSeconds(1), IdleTimeout = TimeSpan.FromSeconds(30) });
        using Socket s = server.Connect();
        for (int i = 0; i < 3; i++)
        {
            s.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8);
            Assert.StartsWith("HTTP/1.1 200 OK", ReadUntil(s, "NET).\n"));
            Thread.Sleep(700); // 2.1 s in all, each request complete at once
        }
    }

    [Fact]
    public void TheBuiltInPageAllocatesNothingPerRequest()
    {
        // The benchmarked path: the loop runs on this thread, so its allocations are counted here.
        using var map = new SocketMap();
        var server = new HttpServer(new IPEndPoint(IPAddress.Loopback, 0), new HttpServerOptions { Quiet = true }, map);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(server.Address);
        byte[] request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\n\r\n"u8.ToArray();
        byte[] answers = new byte[1 << 20];
        int answerLength = 0;
        client.Send(request);
        var first = new MemoryStream();
        while (!Encoding.ASCII.GetString(first.ToArray()).EndsWith("NET).\n", StringComparison.Ordinal))
        {
            EventLoop.Loop(PollerKind.Default, 0.01, map, count: 1);
            while (client.Available > 0)
            {
                int n = client.Receive(answers);
                first.Write(answers, 0, n);
                answerLength += n;
            }
        }

        void Round(int requests)
        {
            for (int i = 0; i < requests; i++)
            {
                client.Send(request);
            }

            int expected = requests * answerLength, got = 0;
            var clock = Stopwatch.StartNew();
            while (got < expected && clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                EventLoop.Loop(PollerKind.Default, 0.01, map, count: 1);
                while (client.Available > 0)
                {
                    got += client.Receive(answers.AsSpan(0, Math.Min(answers.Length, client.Available)));
                }
            }

            Assert.Equal(expected, got);
        }

        for (int i = 0; i < 5; i++)
        {
            // Warm, in rounds the size of the measured one: the parser's buffer, the scratch buffer, the
            // Date cache, tiered compilation, and the pools, which grow to the most segments a round
            // queues at once (a channel reads up to 16 full reads per event, so one pass may answer all 200).
            Round(200);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        Round(200);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        EventLoop.CloseAll(map);
        // The smallest object is 24 bytes, so one per request would be 4,800 here; what may allocate
        // during the round is the Date header's once-a-second cache (a couple of hundred bytes).
        Assert.True(allocated < 200 * 8, $"{allocated} bytes for 200 requests");
    }

    private static string ReadUntil(Socket s, string end)
    {
        var got = new MemoryStream();
        var buf = new byte[4096];
        while (!Encoding.ASCII.GetString(got.ToArray()).EndsWith(end, StringComparison.Ordinal))
        {
            int n = s.Receive(buf);
            Assert.True(n > 0, "closed early: " + Encoding.ASCII.GetString(got.ToArray()));
            got.Write(buf, 0, n);
        }

        return Encoding.ASCII.GetString(got.ToArray());
    }
}
