using System.Text;
using Asyncore.Samples.Http;

namespace Asyncore.Tests.Http;

/// <summary>The HTTP sample's request-head parser, without sockets: its rules, and the same answer for every split of the input.</summary>
public sealed class RequestHeadParserTests
{
    private const int Limit = 8 * 1024;

    /// <summary>What a parse ended with, as plain values, so two parses can be compared.</summary>
    private sealed record Outcome(HeadStatus Status, int Consumed, int ErrorStatus, string Summary);

    private static Outcome Run(byte[] input, params int[] splits)
    {
        var parser = new RequestHeadParser(Limit);
        int consumed = 0;
        HeadStatus status = HeadStatus.NeedMore;
        int from = 0;
        foreach (int to in splits.Append(input.Length))
        {
            if (to < from)
            {
                continue;
            }

            status = parser.Feed(input.AsSpan(from, to - from), out int used);
            consumed += used;
            from = to;
            if (status != HeadStatus.NeedMore)
            {
                break;
            }
        }

        return new Outcome(status, consumed, parser.Error.Status, status == HeadStatus.Done ? Summarize(parser) : "");
    }

    private static string Summarize(RequestHeadParser p)
    {
        RequestHead h = p.Head;
        string S(Segment s) => s.IsPresent ? $"[{Encoding.Latin1.GetString(p[s])}]" : "-";
        return $"{h.Method} {S(h.Target)} {h.Version} line={S(h.Line)} cl={h.ContentLength} chunked={h.Chunked} keep={h.KeepAlive} " +
               $"continue={h.ExpectContinue} host={S(h.Host)} range={S(h.Range)} ifr={S(h.IfRange)} im={S(h.IfMatch)} inm={S(h.IfNoneMatch)} " +
               $"ims={S(h.IfModifiedSince)} ius={S(h.IfUnmodifiedSince)}";
    }

    private static Outcome Run(string input) => Run(Encoding.Latin1.GetBytes(input));

    public static TheoryData<string> Heads() =>
    [
        "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "GET /a/b?x=1 HTTP/1.1\nHost: h\nRange: bytes=0-9\n\nBODY",
        "\r\n\nPOST /echo HTTP/1.1\r\nHost: h\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nabcdGET / HTTP/1.1\r\n",
        "HEAD /f HTTP/1.0\r\nConnection: keep-alive\r\nIf-None-Match: \"x\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\nX-Tab:\tvalue\t\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET /\x1b[31m HTTP/1.1\r\nHost: h\r\n\r\n",
    ];

    [Theory]
    [MemberData(nameof(Heads))]
    public void EverySplitPointGivesTheSameAnswer(string head)
    {
        byte[] input = Encoding.Latin1.GetBytes(head);
        Outcome whole = Run(input);
        for (int i = 0; i <= input.Length; i++)
        {
            Assert.Equal(whole, Run(input, i));
        }

        for (int i = 0; i <= input.Length; i++)
        {
            for (int j = i; j <= input.Length; j++)
            {
                Outcome split = Run(input, i, j);
                if (split != whole)
                {
                    Assert.Fail($"split at {i} and {j}: {split} instead of {whole}");
                }
            }
        }
    }

    [Fact]
    public void ByteAtATimeStopsRightAfterTheHead()
    {
        byte[] input = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\n");
        Outcome oneByOne = Run(input, Enumerable.Range(1, input.Length - 1).ToArray());
        Assert.Equal(HeadStatus.Done, oneByOne.Status);
        Assert.Equal("GET / HTTP/1.1\r\nHost: h\r\n\r\n".Length, oneByOne.Consumed);
        Assert.Equal(Run(input), oneByOne);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "Get [/] 11 line=[GET / HTTP/1.1] cl=-1 chunked=False keep=True continue=False host=[h]")]
    [InlineData("GET / HTTP/1.1\nHost: h\n\n", "Get [/] 11 line=[GET / HTTP/1.1] cl=-1 chunked=False keep=True continue=False host=[h]")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\n\r\n", "Get [/] 11 line=[GET / HTTP/1.1] cl=-1 chunked=False keep=True")]
    [InlineData("\r\n\r\nGET / HTTP/1.0\r\n\r\n", "Get [/] 10 line=[GET / HTTP/1.0] cl=-1 chunked=False keep=False")]
    [InlineData("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "keep=True")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n", "keep=False")]
    [InlineData("GET / HTTP/1.5\r\nHost: h\r\n\r\n", "Get [/] 11")]
    [InlineData("HEAD /x HTTP/1.1\r\nHOST:h\r\n\r\n", "Head [/x] 11")]
    [InlineData("DELETE /x HTTP/1.1\r\nHost: h\r\n\r\n", "Other [/x] 11")]
    [InlineData("GET http://h:8080/a?b HTTP/1.1\r\nHost: h\r\n\r\n", "Get [/a?b] 11")]
    [InlineData("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n", "Get [] 11")]
    [InlineData("GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n", "Get [?q] 11")]
    [InlineData("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", "Get [/caf\xc3\xa9] 11")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "cl=5")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  Chunked \r\n\r\n", "cl=-1 chunked=True")]
    [InlineData("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n", "continue=True")]
    [InlineData("POST /echo HTTP/1.0\r\nContent-Length: 1\r\nExpect: something-else\r\n\r\n", "continue=False")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=1-2\r\nRange: bytes=3-4\r\n\r\n", "range=[bytes=1-2]")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nIf-Range: \"e\"\r\nIf-Match: *\r\nIf-None-Match: W/\"a\", \"b\"\r\n\r\n", "ifr=[\"e\"] im=[*] inm=[W/\"a\", \"b\"]")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nIf-Unmodified-Since: x\r\nX-Obs-Text: caf\xe9\r\n\r\n", "ius=[x]")]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n", "host=[h]")]
    public void AcceptedHeads(string head, string expected)
    {
        Outcome o = Run(head);
        Assert.Equal(HeadStatus.Done, o.Status);
        Assert.Equal(head.Length, o.Consumed);
        Assert.Contains(expected, o.Summary);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)]                                        // HTTP/1.1 without Host
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]                  // two Hosts
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400)]                  // two Hosts, even equal
    [InlineData("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400)]                               // empty Host
    [InlineData("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: ..\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 400)]                  // NUL in a value
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400)]                  // bare CR in a value
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\x1b[2Jb\r\n\r\n", 400)]             // ESC in a value
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400)]                 // DEL in a value
    [InlineData("GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400)]                         // a control byte in the target
    [InlineData("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400)]                  // obs-fold
    [InlineData("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400)]                            // space before the colon
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nNo colon\r\n\r\n", 400)]
    [InlineData("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET http:// HTTP/1.1\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nExpect: 100-continue\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: *\r\nIf-None-Match: *\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: a\r\nIf-Modified-Since: a\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\n\r\n", 505)]
    [InlineData("GET / HTTP/3\r\n\r\n", 505)]
    [InlineData("GET / HTTP/x.y\r\n\r\n", 400)]
    [InlineData("GET / http/1.1\r\n\r\n", 400)]
    [InlineData("GET /\r\n\r\n", 400)]
    public void RefusedHeads(string head, int status)
    {
        Outcome o = Run(head);
        Assert.Equal(HeadStatus.Error, o.Status);
        Assert.Equal(status, o.ErrorStatus);
    }

    [Fact]
    public void AHeadOverTheLimitIs431AndALongRequestLine414()
    {
        string fields = string.Concat(Enumerable.Range(0, 200).Select(i => $"X-Filler-{i}: {new string('y', 60)}\r\n"));
        Assert.Equal(431, Run("GET / HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n").ErrorStatus);
        Assert.Equal(414, Run($"GET /{new string('a', Limit)} HTTP/1.1\r\nHost: h\r\n\r\n").ErrorStatus);

        // Exactly at the limit is fine.
        string head = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
        head += new string('z', Limit - head.Length - 4) + "\r\n\r\n";
        Assert.Equal(Limit, head.Length);
        Assert.Equal(HeadStatus.Done, Run(head).Status);
        Assert.Equal(431, Run(head.Insert(head.Length - 4, "z")).ErrorStatus);
    }

    [Fact]
    public void AfterAnAnswerItTakesNothingUntilReset()
    {
        var parser = new RequestHeadParser(Limit);
        Assert.Equal(HeadStatus.Done, parser.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET"u8, out int used));
        Assert.Equal(27, used);
        parser.Reset();
        Assert.True(parser.IsEmpty);
        Assert.Equal(HeadStatus.Error, parser.Feed("GET / HTTP/1.1\r\n\r\n"u8, out _));
        Assert.Equal(HeadStatus.Error, parser.Feed("more"u8, out used));
        Assert.Equal(0, used);
        parser.Reset();
        Assert.Equal(HeadStatus.Done, parser.Feed("HEAD /x HTTP/1.0\r\n\r\n"u8, out _));
        Assert.Equal(Method.Head, parser.Head.Method);
        Assert.False(parser.Head.Host.IsPresent);
    }

    [Fact]
    public void ParsingAllocatesNothingOnceWarm()
    {
        var parser = new RequestHeadParser(Limit);
        byte[] head = Encoding.ASCII.GetBytes("GET /index.html?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: test\r\nAccept: */*\r\nConnection: keep-alive\r\n" +
                                              "If-None-Match: \"a-b\"\r\nRange: bytes=0-1\r\n\r\n");
        for (int i = 0; i < 100; i++)
        {
            parser.Reset();
            Assert.Equal(HeadStatus.Done, parser.Feed(head, out _));
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            parser.Reset();
            // Fed line by line, as the server's "\n" terminator hands it over.
            ReadOnlySpan<byte> rest = head;
            while (!rest.IsEmpty)
            {
                int lf = rest.IndexOf((byte)'\n');
                parser.Feed(rest[..lf], out _);
                parser.Feed("\n"u8, out _);
                rest = rest[(lf + 1)..];
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(Method.Get, parser.Head.Method);
    }
}
