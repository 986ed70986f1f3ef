using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Http;

/// <summary>
/// The HTTP sample as a file server, tried with the clients people point at one (curl, HttpClient,
/// raw sockets for the byte-level checks): pipelined large files, files that are not files,
/// permissions, ranges, validators and conditional requests, folders.
/// </summary>
public sealed class FileServingTests : IDisposable
{
    private const int Big = 1024 * 1024;
    private readonly string _root = Directory.CreateTempSubdirectory("asyncore-http-files-").FullName;
    private readonly byte[] _a = Pattern(Big, 7);
    private readonly byte[] _b = Pattern(Big, 13);

    public FileServingTests()
    {
        File.WriteAllBytes(Path.Combine(_root, "a.bin"), _a);
        File.WriteAllBytes(Path.Combine(_root, "b.bin"), _b);
        File.WriteAllText(Path.Combine(_root, "small.txt"), "small file\n");
        File.WriteAllBytes(Path.Combine(_root, "empty.txt"), []);
        Directory.CreateDirectory(Path.Combine(_root, "site"));
        File.WriteAllText(Path.Combine(_root, "site", "index.html"), "<h1>site</h1>");
        Directory.CreateDirectory(Path.Combine(_root, "list", "inner dir"));
        File.WriteAllText(Path.Combine(_root, "list", "<b>&\"x\".txt"), "odd name");
        File.WriteAllText(Path.Combine(_root, "list", "é t#?.txt"), "spaces");
        File.WriteAllText(Path.Combine(_root, "list", ".hidden"), "not listed");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static byte[] Pattern(int length, int step) => Enumerable.Range(0, length).Select(i => (byte)((i * step) + (i >> 12))).ToArray();

    /// <summary>Splits a raw stream of answers into (head, body) pairs, using each head's Content-Length (none for HEAD and 304).</summary>
    private static List<(string Head, byte[] Body)> Answers(byte[] stream, params bool[] bodiless)
    {
        var answers = new List<(string, byte[])>();
        int at = 0;
        for (int i = 0; at < stream.Length; i++)
        {
            int end = stream.AsSpan(at).IndexOf("\r\n\r\n"u8);
            Assert.True(end >= 0, $"no head at byte {at}");
            string head = Encoding.Latin1.GetString(stream, at, end);
            at += end + 4;
            int length = 0;
            var match = System.Text.RegularExpressions.Regex.Match(head, "\r\nContent-Length: ([0-9]+)");
            if (match.Success && !(i < bodiless.Length && bodiless[i]))
            {
                length = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            }

            Assert.True(at + length <= stream.Length, $"answer {i} is short: {head}");
            answers.Add((head, stream.AsSpan(at, length).ToArray()));
            at += length;
        }

        return answers;
    }

    private static string Field(string head, string name) =>
        head.Split("\r\n").FirstOrDefault(l => l.StartsWith(name + ": ", StringComparison.OrdinalIgnoreCase))?[(name.Length + 2)..] ?? "";

    [Fact]
    public void PipelinedLargeFilesArriveByteForByte() => PipelinedLargeFilesArriveByteForByteOn(PollerKind.Default);

    /// <summary>On io_uring the file bodies go out with sendfile(2) between heads the ring sends.</summary>
    [RingFact]
    public void PipelinedLargeFilesArriveByteForByteOnIoUring() => PipelinedLargeFilesArriveByteForByteOn(PollerKind.IoUring);

    private void PipelinedLargeFilesArriveByteForByteOn(PollerKind kind)
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true }, kind);
        byte[] stream = server.RawBytes(Encoding.ASCII.GetBytes(
            "GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n" +
            "GET /b.bin HTTP/1.1\r\nHost: x\r\n\r\n" +
            "HEAD /a.bin HTTP/1.1\r\nHost: x\r\n\r\n" +
            "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n" +
            "GET /b.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=100000-\r\n\r\n" +
            "GET /a.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), halfClose: false);

        var answers = Answers(stream, false, false, true);
        Assert.Equal(6, answers.Count);
        Assert.StartsWith("HTTP/1.1 200 OK", answers[0].Head);
        Assert.Equal(_a, answers[0].Body);
        Assert.Equal(_b, answers[1].Body);
        Assert.Equal(Big.ToString(CultureInfo.InvariantCulture), Field(answers[2].Head, "Content-Length"));
        Assert.Empty(answers[2].Body);
        Assert.Equal("small file\n", Encoding.ASCII.GetString(answers[3].Body));
        Assert.StartsWith("HTTP/1.1 206 Partial Content", answers[4].Head);
        Assert.Equal(_b.AsSpan(100000).ToArray(), answers[4].Body);
        Assert.Equal(_a, answers[5].Body);
    }

    [Fact]
    public void TwoPipelinedOneMebibyteGetsInOnePacket()
    {
        // The issue's case: the second head used to follow the first at byte 139.
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        using Socket s = server.Connect();
        s.Send("GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /a.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8);
        var answers = Answers(Drive.ReadToEnd(s));
        Assert.Equal(2, answers.Count);
        Assert.All(answers, a => Assert.Equal(Big.ToString(CultureInfo.InvariantCulture), Field(a.Head, "Content-Length")));
        Assert.All(answers, a => Assert.Equal(_a, a.Body));
    }

    [Fact]
    public void EachKeptAliveFileEndsWithoutWaitingForTheCork() => EachKeptAliveFileEndsWithoutWaitingForTheCorkOn(PollerKind.Default);

    [RingFact]
    public void EachKeptAliveFileEndsWithoutWaitingForTheCorkOnIoUring() => EachKeptAliveFileEndsWithoutWaitingForTheCorkOn(PollerKind.IoUring);

    private void EachKeptAliveFileEndsWithoutWaitingForTheCorkOn(PollerKind kind)
    {
        // A file body is sent with TCP_CORK set (nginx's tcp_nopush); the cork must come off when the
        // body is done, or the body's last partial segment waits 200 ms for the kernel's cork timer.
        // Ten answers on one connection take milliseconds each; a cork left on costs 2 s.
        byte[] odd = Pattern(100_001, 5);
        File.WriteAllBytes(Path.Combine(_root, "odd.bin"), odd);
        using var server = new HttpTestServer(_root, o => o with { Quiet = true }, kind);
        using Socket s = server.Connect();
        s.ReceiveTimeout = 10_000;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 10; i++)
        {
            s.Send("GET /odd.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8);
            var answer = ReadOneAnswer(s, odd.Length);
            Assert.Equal(odd, answer);
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1.5), $"ten kept-alive answers took {clock.Elapsed.TotalMilliseconds:F0} ms");
    }

    /// <summary>Reads one answer's head and its body of <paramref name="length"/> bytes from a kept-alive connection.</summary>
    private static byte[] ReadOneAnswer(Socket s, int length)
    {
        var got = new List<byte>();
        byte[] buffer = new byte[65536];
        int bodyAt = -1;
        while (bodyAt < 0 || got.Count < bodyAt + length)
        {
            int n = s.Receive(buffer);
            Assert.True(n > 0, "the connection ended before the answer did");
            got.AddRange(buffer.AsSpan(0, n));
            if (bodyAt < 0)
            {
                int end = got.ToArray().AsSpan().IndexOf("\r\n\r\n"u8);
                bodyAt = end < 0 ? -1 : end + 4;
            }
        }

        Assert.Equal(bodyAt + length, got.Count);
        return got.GetRange(bodyAt, length).ToArray();
    }

    [Theory]
    [InlineData("1000", 2)] // each file open once, kept by the open-file cache and shared by every answer
    [InlineData("0", 1)]    // no cache: the one being sent; the others wait unopened
    public void AHundredPipelinedDownloadsHoldEachFileOpenOnce(string openFileCache, int mostOpen)
    {
        using var server = new SampleProcess("HttpServer", ["--root", _root, "--quiet", "--open-file-cache", openFileCache]);
        string[] OpenUnderRoot() => Directory.GetFiles($"/proc/{server.Pid}/fd")
            .Select(fd => new FileInfo(fd).LinkTarget ?? "").Where(target => target.StartsWith(_root, StringComparison.Ordinal)).ToArray();
        var uri = new Uri(server.Url);
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20_000 };
        s.Connect(IPAddress.Loopback, uri.Port);

        const int Requests = 100;
        var requests = new StringBuilder();
        for (int i = 0; i < Requests; i++)
        {
            requests.Append(i % 2 == 0 ? "GET /a.bin" : "GET /b.bin").Append(" HTTP/1.1\r\nHost: x\r\n").Append(i == Requests - 1 ? "Connection: close\r\n\r\n" : "\r\n");
        }

        s.Send(Encoding.ASCII.GetBytes(requests.ToString()));
        Thread.Sleep(500); // every request read and answered (heads queued), nothing read back yet
        string[] open = OpenUnderRoot();
        Assert.True(open.Length <= mostOpen && open.Distinct().Count() == open.Length, string.Join(", ", open));

        using var stream = new NetworkStream(s);
        byte[] body = new byte[Big];
        for (int i = 0; i < Requests; i++)
        {
            string head = ReadHead(stream);
            Assert.StartsWith("HTTP/1.1 200 OK", head);
            Assert.Equal(Big.ToString(CultureInfo.InvariantCulture), Field(head, "Content-Length"));
            stream.ReadExactly(body);
            Assert.True(body.AsSpan().SequenceEqual(i % 2 == 0 ? _a : _b), $"answer {i} has the wrong bytes");
        }

        Assert.Equal(0, stream.Read(body));
    }

    private static string ReadHead(Stream stream)
    {
        var head = new StringBuilder();
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            int b = stream.ReadByte();
            Assert.True(b >= 0, "closed inside a head");
            head.Append((char)b);
        }

        return head.ToString();
    }

    [Fact]
    public void AFifoIs404AndDoesNotStopTheLoop()
    {
        string fifo = Path.Combine(_root, "pipe");
        using (Process mkfifo = Process.Start("mkfifo", [fifo]))
        {
            Assert.True(mkfifo.WaitForExit(10_000) && mkfifo.ExitCode == 0, "mkfifo failed");
        }

        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        var clock = Stopwatch.StartNew();
        Assert.Equal("HTTP/1.1 404 Not Found", HttpTestServer.StatusLine(server.Raw("GET /pipe HTTP/1.1\r\nHost: x\r\n\r\n")));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(server.Raw("GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n")));
    }

    [Fact]
    public void SymlinksToDevicesAre404AndToFilesAreFollowed()
    {
        File.CreateSymbolicLink(Path.Combine(_root, "zero"), "/dev/zero");
        File.CreateSymbolicLink(Path.Combine(_root, "null.txt"), "/dev/null");
        File.CreateSymbolicLink(Path.Combine(_root, "link.txt"), Path.Combine(_root, "small.txt"));
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        Assert.Equal("HTTP/1.1 404 Not Found", HttpTestServer.StatusLine(server.Raw("GET /zero HTTP/1.1\r\nHost: x\r\n\r\n")));
        Assert.Equal("HTTP/1.1 404 Not Found", HttpTestServer.StatusLine(server.Raw("GET /null.txt HTTP/1.1\r\nHost: x\r\n\r\n")));
        string linked = server.Raw("GET /link.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(linked));
        Assert.EndsWith("\r\n\r\nsmall file\n", linked);
    }

    [NeedsFact(Outside.Curl)]
    public void AnUnreadableFileIs403WithTheConnectionKept()
    {
        string locked = Path.Combine(_root, "locked.txt");
        File.WriteAllText(locked, "secret");
        File.SetUnixFileMode(locked, UnixFileMode.None);

        // Root reads any file, so the server runs as a process of its own without the capabilities
        // that let root ignore permissions (setpriv), the way a server usually runs.
        using var server = new SampleProcess("HttpServer", ["--root", _root], dropFileCapabilities: true);
        var (exit, output, errors) = HttpTestServer.Curl("-w", "|%{http_code}|%{num_connects}", server.Url + "/locked.txt", server.Url + "/small.txt");
        Assert.True(exit == 0, errors);
        string text = Encoding.ASCII.GetString(output);
        Assert.StartsWith("403 Forbidden: permission denied\n|403|1", text);
        Assert.EndsWith("small file\n|200|0", text); // the second request reused the connection
        string log = server.WaitFor("\"GET /small.txt HTTP/1.1\" 200 ");
        Assert.Contains("\"GET /locked.txt HTTP/1.1\" 403 ", log);
        Assert.DoesNotContain("Exception", log);
    }

    [NeedsFact(Outside.Curl)]
    public void CurlRangesAndResumedDownloads()
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        string url = server.Url + "/a.bin";
        (string Args, int Start, int Count)[] cases = [("0-99", 0, 100), ("1000-", 1000, Big - 1000), ("-500", Big - 500, 500), ("1048000-2000000", 1048000, Big - 1048000)];
        foreach (var (range, start, count) in cases)
        {
            var (exit, output, errors) = HttpTestServer.Curl("-r", range, url);
            Assert.True(exit == 0, errors);
            Assert.Equal(_a.AsSpan(start, count).ToArray(), output);
        }

        var unsatisfiable = HttpTestServer.Curl("-r", "2000000-", "-o", "/dev/null", "-D", "-", url);
        string head = Encoding.ASCII.GetString(unsatisfiable.Output);
        Assert.StartsWith("HTTP/1.1 416 Range Not Satisfiable", head);
        Assert.Contains($"Content-Range: bytes */{Big}\r\n", head);

        // A download cut short, then resumed (curl -C -).
        string file = Path.Combine(_root, "..", Path.GetFileName(_root) + "-download.bin");
        try
        {
            File.WriteAllBytes(file, _a.AsSpan(0, 300_000).ToArray());
            var (exit, _, errors) = HttpTestServer.Curl("-C", "-", "-o", file, url);
            Assert.True(exit == 0, errors);
            Assert.Equal(_a, File.ReadAllBytes(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task HttpClientRangesAndIfRange()
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        using HttpClient c = server.Client();
        var full = await c.GetAsync("/b.bin");
        EntityTagHeaderValue etag = full.Headers.ETag!;
        DateTimeOffset modified = full.Content.Headers.LastModified!.Value;
        Assert.Equal("bytes", Assert.Single(full.Headers.AcceptRanges));

        async Task<HttpResponseMessage> Get(Action<HttpRequestHeaders> set)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/b.bin");
            request.Headers.Range = new RangeHeaderValue(10, 19);
            set(request.Headers);
            return await c.SendAsync(request);
        }

        var part = await Get(_ => { });
        Assert.Equal(HttpStatusCode.PartialContent, part.StatusCode);
        Assert.Equal(_b.AsSpan(10, 10).ToArray(), await part.Content.ReadAsByteArrayAsync());
        Assert.Equal(new ContentRangeHeaderValue(10, 19, Big) { Unit = "bytes" }, part.Content.Headers.ContentRange);

        Assert.Equal(HttpStatusCode.PartialContent, (await Get(h => h.IfRange = new RangeConditionHeaderValue(etag))).StatusCode);
        Assert.Equal(HttpStatusCode.PartialContent, (await Get(h => h.IfRange = new RangeConditionHeaderValue(modified))).StatusCode);
        var stale = await Get(h => h.IfRange = new RangeConditionHeaderValue("\"0-0\""));
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal(_b, await stale.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.OK, (await Get(h => h.IfRange = new RangeConditionHeaderValue(modified.AddSeconds(-1)))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get(h => h.TryAddWithoutValidation("If-Range", "W/" + etag.Tag))).StatusCode);

        var several = new HttpRequestMessage(HttpMethod.Get, "/b.bin");
        several.Headers.Range = new RangeHeaderValue(0, 1);
        several.Headers.Range.Ranges.Add(new RangeItemHeaderValue(5, 6));
        var whole = await c.SendAsync(several);
        Assert.Equal(HttpStatusCode.OK, whole.StatusCode); // several ranges: the whole file instead of multipart
        Assert.Equal(Big, (await whole.Content.ReadAsByteArrayAsync()).Length);
    }

    [NeedsFact(Outside.Curl)]
    public async Task ValidatorsAndConditionalRequests()
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        string small = Path.Combine(_root, "small.txt");
        long mtime = new DateTimeOffset(File.GetLastWriteTimeUtc(small)).ToUnixTimeSeconds();
        string expectedTag = $"\"{mtime:x}-{new FileInfo(small).Length:x}\"";

        string get = server.Raw("GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        string head = server.Raw("HEAD /small.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        string etag = Field(get, "ETag"), lastModified = Field(get, "Last-Modified");
        Assert.Equal(expectedTag, etag);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(mtime).ToString("r", CultureInfo.InvariantCulture), lastModified);
        foreach (string name in new[] { "Content-Type", "Content-Length", "ETag", "Last-Modified", "Accept-Ranges" })
        {
            Assert.Equal(Field(get, name), Field(head, name)); // HEAD is GET without the body
        }

        Assert.EndsWith("\r\n\r\n", head);

        string[] notModified =
        [
            $"If-None-Match: {etag}",
            $"If-None-Match: \"other\", W/{etag}",
            "If-None-Match: *",
            $"If-Modified-Since: {lastModified}",
        ];
        foreach (string condition in notModified)
        {
            string response = server.Raw($"GET /small.txt HTTP/1.1\r\nHost: x\r\n{condition}\r\n\r\n");
            Assert.Equal("HTTP/1.1 304 Not Modified", HttpTestServer.StatusLine(response));
            Assert.EndsWith("\r\n\r\n", response);
            Assert.Equal(etag, Field(response, "ETag"));
            Assert.Equal("", Field(response, "Content-Length"));
        }

        string[] modified =
        [
            "If-None-Match: \"other\"",
            $"If-None-Match: \"other\"\r\nIf-Modified-Since: {lastModified}",   // If-None-Match wins
            $"If-Modified-Since: {DateTimeOffset.FromUnixTimeSeconds(mtime + 3600).ToString("r", CultureInfo.InvariantCulture)}", // nginx's exact rule
            "If-Modified-Since: not a date",
        ];
        foreach (string condition in modified)
        {
            string response = server.Raw($"GET /small.txt HTTP/1.1\r\nHost: x\r\n{condition}\r\n\r\n");
            Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(response));
            Assert.EndsWith("small file\n", response);
        }

        Assert.Equal("HTTP/1.1 412 Precondition Failed", HttpTestServer.StatusLine(server.Raw("GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"nope\"\r\n\r\n")));
        Assert.Equal("HTTP/1.1 412 Precondition Failed", HttpTestServer.StatusLine(server.Raw($"GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-Match: W/{etag}\r\n\r\n")));
        Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(server.Raw($"GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-Match: {etag}\r\n\r\n")));
        Assert.Equal("HTTP/1.1 412 Precondition Failed", HttpTestServer.StatusLine(server.Raw(
            $"GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-Unmodified-Since: {DateTimeOffset.FromUnixTimeSeconds(mtime - 60).ToString("r", CultureInfo.InvariantCulture)}\r\n\r\n")));

        // HttpClient and curl revalidate the way browsers do.
        using HttpClient c = server.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/small.txt");
        request.Headers.IfNoneMatch.Add(EntityTagHeaderValue.Parse(etag));
        Assert.Equal(HttpStatusCode.NotModified, (await c.SendAsync(request)).StatusCode);
        var (exit, output, errors) = HttpTestServer.Curl("-z", lastModified, "-w", "%{http_code}", server.Url + "/small.txt");
        Assert.True(exit == 0, errors);
        Assert.Equal("304", Encoding.ASCII.GetString(output));

        // A changed file has a new tag.
        File.WriteAllText(small, "changed, and longer\n");
        File.SetLastWriteTimeUtc(small, DateTime.UtcNow.AddMinutes(1));
        string changed = server.Raw($"GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n");
        Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(changed));
        Assert.NotEqual(etag, Field(changed, "ETag"));
        Assert.EndsWith("changed, and longer\n", changed);
    }

    [Fact]
    public void EmptyFilesAndRangesOfThem()
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        string response = server.Raw("GET /empty.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n");
        Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(response));
        Assert.Equal("0", Field(response, "Content-Length"));
        Assert.EndsWith("\r\n\r\n", response);
    }

    [Fact]
    public async Task FoldersRedirectServeIndexOrList()
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        string redirect = server.Raw("GET /site?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("HTTP/1.1 301 Moved Permanently", HttpTestServer.StatusLine(redirect));
        Assert.Equal("/site/?x=1", Field(redirect, "Location"));

        using HttpClient c = server.Client(); // follows the redirect
        Assert.Equal("<h1>site</h1>", await c.GetStringAsync("/site"));

        var listing = await c.GetAsync("/list/");
        Assert.Equal("text/html; charset=utf-8", listing.Content.Headers.ContentType!.ToString());
        string html = await listing.Content.ReadAsStringAsync();
        Assert.Contains("&lt;b&gt;&amp;&quot;x&quot;.txt</a>", html);
        Assert.Contains("inner dir/</a>", html);
        Assert.DoesNotContain("<b>", html);
        Assert.DoesNotContain(".hidden", html);
        var hrefs = System.Text.RegularExpressions.Regex.Matches(html, "href=\"([^\"]+)\"").Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToList();
        Assert.Equal(4, hrefs.Count); // ../, the folder, the two files
        foreach (string href in hrefs)
        {
            Assert.Equal(HttpStatusCode.OK, (await c.GetAsync(new Uri(new Uri(server.Url + "/list/"), href))).StatusCode);
        }

        Assert.Equal("odd name", await c.GetStringAsync(new Uri(new Uri(server.Url + "/list/"), hrefs.Single(h => h.Contains("%3Cb%3E")))));
        Assert.Equal("spaces", await c.GetStringAsync(new Uri(new Uri(server.Url + "/list/"), hrefs.Single(h => h.Contains("t%23%3F")))));
        Assert.Contains("Index of /", await c.GetStringAsync("/"));
    }

    [Fact]
    public void AFileThatShrinksWhileSentClosesTheConnection()
    {
        string path = Path.Combine(_root, "shrinks.bin");
        File.WriteAllBytes(path, new byte[32 * Big]);
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        using Socket s = server.Connect();
        s.ReceiveBufferSize = 64 * 1024;
        s.Send("GET /shrinks.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8);
        byte[] buf = new byte[64 * 1024];
        long got = s.Receive(buf);
        Assert.StartsWith("HTTP/1.1 200 OK", Encoding.ASCII.GetString(buf, 0, 15));
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            f.SetLength(Big);
        }

        int n;
        var clock = Stopwatch.StartNew();
        while ((n = s.Receive(buf)) > 0)
        {
            got += n;
        }

        Assert.True(got < 32L * Big, "the whole length arrived");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(9), "the connection was left open");
    }

    [Fact]
    public void TheAccessLogShowsTheBytesSentWhenAFileShrankNotTheLengthPromised()
    {
        string path = Path.Combine(_root, "shrinks.bin");
        File.WriteAllBytes(path, new byte[32 * Big]);
        using var server = new HttpTestServer(_root);
        using Socket s = server.Connect();
        s.ReceiveBufferSize = 64 * 1024;
        s.Send("GET /shrinks.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8);
        byte[] buf = new byte[64 * 1024];
        var received = new MemoryStream();
        int n = s.Receive(buf);
        received.Write(buf, 0, n);
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            f.SetLength(Big);
        }

        received.Write(Drive.ReadToEnd(s));
        byte[] stream = received.ToArray();
        int headEnd = stream.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        long body = stream.Length - headEnd;
        Assert.True(body < 32L * Big, "the whole length arrived");

        var clock = Stopwatch.StartNew();
        string line;
        while ((line = server.Log.Split('\n').FirstOrDefault(l => l.Contains("/shrinks.bin", StringComparison.Ordinal)) ?? "") == "" && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(20);
        }

        var logged = System.Text.RegularExpressions.Regex.Match(line, "\" 200 ([0-9]+) ");
        Assert.True(logged.Success, $"no log line for the file: {server.Log}");
        Assert.Equal(body, long.Parse(logged.Groups[1].Value, CultureInfo.InvariantCulture)); // what the client got, not the 33554432 promised
    }

    [Fact]
    public void TheAccessLogShowsAWholeFileOnceItIsSent()
    {
        using var server = new HttpTestServer(_root);
        byte[] stream = server.RawBytes("GET /a.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\nConnection: close\r\n\r\n"u8.ToArray(), halfClose: false);
        Assert.Equal(_a.AsSpan(10).ToArray(), Answers(stream).Single().Body);
        var clock = Stopwatch.StartNew();
        while (!server.Log.Contains("/a.bin", StringComparison.Ordinal) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(20);
        }

        Assert.Contains($"\"GET /a.bin HTTP/1.1\" 206 {Big - 10} ", server.Log);
    }

    [Fact]
    public void AClientThatLeavesMidFileDoesNotHurtTheNext()
    {
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        for (int i = 0; i < 20; i++)
        {
            using Socket s = server.Connect();
            s.Send("GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /b.bin HTTP/1.1\r\nHost: x\r\n\r\n"u8);
            s.Receive(new byte[1000]);
        }

        byte[] stream = server.RawBytes("GET /b.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray(), halfClose: false);
        Assert.Equal(_b, Answers(stream).Single().Body);
    }
}
