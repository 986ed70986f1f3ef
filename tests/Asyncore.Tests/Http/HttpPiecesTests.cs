using System.Text;
using Asyncore.Samples.Http;

namespace Asyncore.Tests.Http;

/// <summary>The HTTP sample's small pure parts: byte ranges, entity tags, paths, dates, the access log's escaping.</summary>
public sealed class HttpPiecesTests
{
    [Theory]
    [InlineData("bytes=0-9", 100, "Single", 0, 10)]
    [InlineData("bytes=10-", 100, "Single", 10, 90)]
    [InlineData("bytes=-10", 100, "Single", 90, 10)]
    [InlineData("bytes=-1000", 100, "Single", 0, 100)]
    [InlineData("bytes=90-1000", 100, "Single", 90, 10)]
    [InlineData("bytes=99-99", 100, "Single", 99, 1)]
    [InlineData("BYTES = 5-6", 100, "Whole", 0, 100)]              // not "bytes=": ignored
    [InlineData("Bytes= 5 - 6 ", 100, "Single", 5, 2)]
    [InlineData("items=0-1", 100, "Whole", 0, 100)]                 // another unit: ignored
    [InlineData("bytes=100-", 100, "Unsatisfiable", 0, 100)]
    [InlineData("bytes=200-300", 100, "Unsatisfiable", 0, 100)]
    [InlineData("bytes=5-3", 100, "Unsatisfiable", 0, 100)]
    [InlineData("bytes=-0", 100, "Unsatisfiable", 0, 100)]
    [InlineData("bytes=0-", 0, "Whole", 0, 0)]                      // nginx: an empty file is sent whole
    [InlineData("bytes=x-1", 100, "Unsatisfiable", 0, 100)]         // malformed: 416, as nginx answers
    [InlineData("bytes=1-2x", 100, "Unsatisfiable", 0, 100)]
    [InlineData("bytes=", 100, "Whole", 0, 100)]
    [InlineData("bytes=1-2,,3-4", 100, "Unsatisfiable", 0, 100)]
    [InlineData("bytes=99999999999999999999-", 100, "Unsatisfiable", 0, 100)]
    [InlineData("bytes=0-1,5-6", 100, "Whole", 0, 100)]             // several: the whole file
    [InlineData("bytes=0-1, 500-600", 100, "Single", 0, 2)]         // one of them satisfiable
    public void ByteRangesAreReadAsNginxReadsThem(string value, long length, string kind, long start, long count)
    {
        Assert.Equal(kind, ByteRanges.Parse(Encoding.ASCII.GetBytes(value), length, out long s, out long c).ToString());
        Assert.Equal((start, count), (s, c));
    }

    [Theory]
    [InlineData("*", true, true)]
    [InlineData("\"5f-a\"", true, true)]
    [InlineData("W/\"5f-a\"", true, false)]
    [InlineData("\"x\", W/\"5f-a\" , \"y\"", true, false)]
    [InlineData("\"x\",\"5f-a\"", true, true)]
    [InlineData("\"5f-ab\"", false, false)]
    [InlineData("\"5f-a", false, false)]
    [InlineData("\"x\", \"y\"", false, false)]
    [InlineData("", false, false)]
    public void EntityTagListsMatchWeaklyOrStrongly(string list, bool weak, bool strong)
    {
        Span<byte> etag = stackalloc byte[40];
        etag = etag[..EntityTag.Format(0x5f, 0xa, etag)];
        Assert.Equal("\"5f-a\"", Encoding.ASCII.GetString(etag));
        Assert.Equal(weak, EntityTag.ListMatches(Encoding.ASCII.GetBytes(list), etag, weak: true));
        Assert.Equal(strong, EntityTag.ListMatches(Encoding.ASCII.GetBytes(list), etag, weak: false));
    }

    [Theory]
    [InlineData("/", "Ok", "/")]
    [InlineData("/a%20b", "Ok", "/a b")]
    [InlineData("/h%C3%A9llo.txt", "Ok", "/héllo.txt")]
    [InlineData("/h\xc3\xa9llo.txt", "Ok", "/héllo.txt")]      // raw UTF-8
    [InlineData("/h\xe9llo.txt", "BadRequest", "")]            // raw Latin-1: not UTF-8
    [InlineData("/h%E9llo.txt", "BadRequest", "")]
    [InlineData("/%zz", "BadRequest", "")]
    [InlineData("/%4", "BadRequest", "")]
    [InlineData("/a%00b", "BadRequest", "")]
    [InlineData("/../x", "Forbidden", "")]
    [InlineData("/a/%2e%2E/x", "Forbidden", "")]
    [InlineData("/a/..", "Forbidden", "")]
    [InlineData("/..%5cx", "Forbidden", "")]
    [InlineData("/a/...b/..c", "Ok", "/a/...b/..c")]
    public void PathsDecodeAsUtf8(string raw, string status, string decoded)
    {
        Assert.Equal(status, TargetPath.Decode(Encoding.Latin1.GetBytes(raw), out string text).ToString());
        Assert.Equal(decoded, status == "Ok" ? text : "");
    }

    [Fact]
    public void PathAndQuerySplit()
    {
        Assert.Equal("/a", Encoding.ASCII.GetString(TargetPath.PathOf("/a?b#c"u8)));
        Assert.Equal("?b", Encoding.ASCII.GetString(TargetPath.QueryOf("/a?b#c"u8)));
        Assert.Equal("/", Encoding.ASCII.GetString(TargetPath.PathOf("?x"u8)));
        Assert.Equal("", Encoding.ASCII.GetString(TargetPath.QueryOf("/a"u8)));
        Assert.Equal("/caf%C3%A9%20x", TargetPath.ForLocation(Encoding.Latin1.GetBytes("/caf\xc3\xa9 x")));
    }

    [Theory]
    [InlineData("Sun, 06 Nov 1994 08:49:37 GMT")]
    [InlineData("Sunday, 06-Nov-94 08:49:37 GMT")]
    [InlineData("Sun Nov  6 08:49:37 1994")]
    public void TheThreeHttpDateFormsAreRead(string value)
    {
        Assert.True(HttpDate.TryParse(Encoding.ASCII.GetBytes(value), out long seconds));
        Assert.Equal(784111777, seconds);
        Span<byte> text = stackalloc byte[40];
        Assert.Equal("Sun, 06 Nov 1994 08:49:37 GMT", Encoding.ASCII.GetString(text[..HttpDate.Format(seconds, text)]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("yesterday")]
    [InlineData("Sun, 06 Nov 1994 08:49:37 CET")]
    public void OtherDatesAreNot(string value) => Assert.False(HttpDate.TryParse(Encoding.ASCII.GetBytes(value), out _));

    [Fact]
    public void TheAccessLogEscapesWhatATerminalWouldRun()
    {
        byte[] line = Encoding.Latin1.GetBytes("GET /\x1b[2J\"a\\b\x7f\xc3\xa9 HTTP/1.1");
        Assert.Equal("GET /\\x1B[2J\\x22a\\x5Cb\\x7F\\xC3\\xA9 HTTP/1.1", AccessLog.Escape(line));
    }
}
