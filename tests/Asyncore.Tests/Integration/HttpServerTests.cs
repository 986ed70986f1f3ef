using System.Net;
using System.Text;
using Asyncore.Tests.Http;

namespace Asyncore.Tests.Integration;

/// <summary>The HTTP sample over loopback, driven by HttpClient and by raw sockets.</summary>
public sealed class HttpServerTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("asyncore-http-").FullName;
    private readonly StringWriter _log = new();

    public HttpServerTests()
    {
        File.WriteAllText(Path.Combine(_root, "index.html"), "<h1>home</h1>");
        File.WriteAllText(Path.Combine(_root, "style.css"), "body{}");
        File.WriteAllBytes(Path.Combine(_root, "big.bin"), Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray());
        Directory.CreateDirectory(Path.Combine(_root, "sub"));
        File.WriteAllText(Path.Combine(_root, "sub", "data.json"), "{\"a\":1}");
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(_root)!, "secret.txt"), "do not serve");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private HttpTestServer Start(string? root = null, long maxBody = 1024 * 1024, bool quiet = false) =>
        new(root, o => o with { MaxBody = maxBody, Quiet = quiet, Log = TextWriter.Synchronized(_log) });

    private static string StatusLine(string response) => HttpTestServer.StatusLine(response);

    private static string[] Statuses(string response) => HttpTestServer.Statuses(response);

    [Fact]
    public async Task GetBuiltInPage()
    {
        using (var server = Start())
        using (HttpClient c = server.Client())
        {
            HttpResponseMessage r = await c.GetAsync("/");
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            string body = await r.Content.ReadAsStringAsync();
            Assert.Contains("Hello, World!", body);
            Assert.Contains("Asyncore", body);
            Assert.Equal("text/plain; charset=utf-8", r.Content.Headers.ContentType!.ToString());
            Assert.Equal(Encoding.UTF8.GetByteCount(body), r.Content.Headers.ContentLength);
            Assert.NotNull(r.Headers.Date);
        }

        Assert.Contains("\"GET / HTTP/1.1\" 200", _log.ToString());
    }

    [Fact]
    public async Task HeadHasHeadersAndNoBody()
    {
        using (var server = Start())
        using (HttpClient c = server.Client())
        {
            var r = await c.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/"));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.True(r.Content.Headers.ContentLength > 0);
            Assert.Empty(await r.Content.ReadAsByteArrayAsync());
            // The connection is still usable: HEAD sent no body to confuse the next response.
            Assert.Equal(HttpStatusCode.OK, (await c.GetAsync("/")).StatusCode);
        }
    }

    [Fact]
    public async Task FilesUnderRootWithContentTypes()
    {
        using (var server = Start(_root))
        using (HttpClient c = server.Client())
        {
            var index = await c.GetAsync("/");
            Assert.Equal("<h1>home</h1>", await index.Content.ReadAsStringAsync());
            Assert.Equal("text/html; charset=utf-8", index.Content.Headers.ContentType!.ToString());
            Assert.Equal("text/css; charset=utf-8", (await c.GetAsync("/style.css")).Content.Headers.ContentType!.ToString());
            var json = await c.GetAsync("/sub/data.json?x=1");
            Assert.Equal("application/json", json.Content.Headers.ContentType!.ToString());
            Assert.Equal("{\"a\":1}", await json.Content.ReadAsStringAsync());
            byte[] big = await c.GetByteArrayAsync("/big.bin");
            Assert.Equal(File.ReadAllBytes(Path.Combine(_root, "big.bin")), big);
            Assert.Equal(HttpStatusCode.NotFound, (await c.GetAsync("/missing.txt")).StatusCode);
        }
    }

    [Fact]
    public async Task PostEchoAnswersTheDecodedFieldsInOrder()
    {
        using (var server = Start())
        using (HttpClient c = server.Client())
        {
            var form = new FormUrlEncodedContent([new("name", "Ada Lovelace"), new("lang", "C#"), new("empty", ""), new("π", "3.14 & more")]);
            var r = await c.PostAsync("/echo", form);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal("text/plain; charset=utf-8", r.Content.Headers.ContentType!.ToString());
            Assert.Equal("name=Ada Lovelace\nlang=C#\nempty=\nπ=3.14 & more\n", await r.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task KeepAliveReusesOneConnection()
    {
        using var server = Start(quiet: true);
        int connects = 0;
        using (HttpClient c = server.Client(() => Interlocked.Increment(ref connects)))
        {
            for (int i = 0; i < 20; i++)
            {
                Assert.Equal(HttpStatusCode.OK, (await c.GetAsync("/")).StatusCode);
                var post = await c.PostAsync("/echo", new StringContent("i=" + i, Encoding.ASCII, "application/x-www-form-urlencoded"));
                Assert.Equal($"i={i}\n", await post.Content.ReadAsStringAsync());
            }
        }

        Assert.Equal(1, connects);
        Assert.Equal(1, server.Server.Accepted);
    }

    [Fact]
    public void PipelinedRequestsAreAnsweredInOrder()
    {
        using (var server = Start(quiet: true))
        {
            string response = server.Raw(
                "GET / HTTP/1.1\r\nHost: x\r\n\r\n" +
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\na=1&b=2" +
                "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n" +
                "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" +
                "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" +
                "GET /after-close HTTP/1.1\r\n\r\n");
            string[] statuses = Statuses(response);
            Assert.Equal(new[] { "HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK" }, statuses);
            Assert.Contains("a=1\nb=2\n", response);
            Assert.EndsWith("Hello, World!\nThis is the HTTP server sample of Asyncore (Python's asyncore and asynchat for .NET).\n", response);
        }
    }

    [Fact]
    public void Http10ClosesUnlessKeepAliveIsAsked()
    {
        using (var server = Start(quiet: true))
        {
            string closes = server.Raw("GET / HTTP/1.0\r\n\r\n", halfClose: false);
            Assert.StartsWith("HTTP/1.1 200 OK", closes);
            Assert.Contains("Connection: close", closes);

            string kept = server.Raw("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n", halfClose: false);
            Assert.Equal(new[] { "HTTP/1.1 200 OK", "HTTP/1.1 200 OK" }, Statuses(kept));
            Assert.Contains("\r\nConnection: keep-alive\r\n", kept.Split("HTTP/1.1 200 OK")[1]); // an HTTP/1.0 client is told
            Assert.Contains("\r\nConnection: close\r\n", kept.Split("HTTP/1.1 200 OK")[2]);
        }
    }

    [Theory]
    [InlineData("GARBAGE\r\n\r\n", "400 Bad Request")]
    [InlineData("GET /\r\n\r\n", "400 Bad Request")]
    [InlineData("GET / HTTP/1.1 extra\r\n\r\n", "400 Bad Request")]
    [InlineData("GET nopath HTTP/1.1\r\n\r\n", "400 Bad Request")]
    [InlineData("GET / HTTP/1.1\r\nBad Header Line\r\n\r\n", "400 Bad Request")]
    [InlineData("GET / HTTP/1.1\r\n: empty name\r\n\r\n", "400 Bad Request")]
    [InlineData("POST /echo HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", "400 Bad Request")]
    [InlineData("POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400 Bad Request")]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "400 Bad Request")]
    [InlineData("GET / HTTP/x.y\r\n\r\n", "400 Bad Request")]
    [InlineData("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", "404 Not Found")]
    [InlineData("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", "405 Method Not Allowed")]
    [InlineData("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", "405 Method Not Allowed")]
    [InlineData("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", "405 Method Not Allowed")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n", "411 Length Required")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", "413 Content Too Large")]
    [InlineData("GET / HTTP/2.0\r\n\r\n", "505 HTTP Version Not Supported")]
    [InlineData("GET / HTTP/3\r\n\r\n", "505 HTTP Version Not Supported")]
    public void BadInputGetsAClearAnswer(string request, string status)
    {
        using (var server = Start(quiet: true, maxBody: 1000))
        {
            string response = server.Raw(request);
            Assert.Equal($"HTTP/1.1 {status}", StatusLine(response));
            Assert.Contains("Content-Length: ", response);
            Assert.Contains(status, response.Split("\r\n\r\n", 2)[1]);
            if (!status.StartsWith("404") && !(status.StartsWith("405") && request.StartsWith("GET /echo")))
            {
                Assert.Contains("Connection: close", response);
            }
        }
    }

    [Fact]
    public void OversizedHeadGets431AndTheConnectionCloses()
    {
        using (var server = Start(quiet: true))
        {
            string request = "GET / HTTP/1.1\r\n" + string.Concat(Enumerable.Range(0, 200).Select(i => $"X-Filler-{i}: {new string('y', 60)}\r\n")) + "\r\n";
            string response = server.Raw(request);
            Assert.Equal("HTTP/1.1 431 Request Header Fields Too Large", StatusLine(response));
            Assert.Contains("Connection: close", response);
        }
    }

    [Theory]
    [InlineData("/../secret.txt")]
    [InlineData("/%2e%2e/secret.txt")]
    [InlineData("/%2E%2E%2Fsecret.txt")]
    [InlineData("/sub/../../secret.txt")]
    [InlineData("/sub/%2e%2e%2f%2e%2e%2fsecret.txt")]
    [InlineData("/..%5csecret.txt")]
    public void PathsThatClimbOutOfTheRootAreRefused(string path)
    {
        using (var server = Start(_root, quiet: true))
        {
            string response = server.Raw($"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            Assert.Equal("HTTP/1.1 403 Forbidden", StatusLine(response));
            Assert.DoesNotContain("do not serve", response);
        }
    }

    [Fact]
    public async Task HttpClientSeesEveryErrorCode()
    {
        using (var server = Start(quiet: true, maxBody: 10))
        {
            using (HttpClient c = server.Client())
            {
                Assert.Equal(HttpStatusCode.NotFound, (await c.GetAsync("/nope")).StatusCode);
                Assert.Equal(HttpStatusCode.MethodNotAllowed, (await c.DeleteAsync("/")).StatusCode);
            }

            using (HttpClient c = server.Client())
            {
                var big = await c.PostAsync("/echo", new StringContent(new string('x', 100)));
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, big.StatusCode);
            }

            using (HttpClient c = server.Client())
            {
                var req = new HttpRequestMessage(HttpMethod.Get, "/");
                req.Headers.Add("X-Big", new string('z', 9000));
                Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, (await c.SendAsync(req)).StatusCode);
            }
        }
    }

    [Fact]
    public void QuietWritesNoAccessLog()
    {
        using (var server = Start(quiet: true))
        {
            server.Raw("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        }

        Assert.Equal(string.Empty, _log.ToString());
    }
}
