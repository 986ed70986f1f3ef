namespace Asyncore.Samples.Http;

/// <summary>The request methods the server tells apart.</summary>
internal enum Method
{
    Other,
    Get,
    Head,
    Post,
}

/// <summary>A piece of the head buffer: where a value starts and how long it is; <see cref="None"/> when absent.</summary>
internal readonly record struct Segment(int Start, int Length)
{
    public static readonly Segment None = new(-1, 0);

    public bool IsPresent => Start >= 0;
}

/// <summary>
/// What a request head said, as segments of the parser's buffer (read them with
/// <see cref="RequestHeadParser.this[Segment]"/>), so parsing a head allocates nothing.
/// </summary>
internal struct RequestHead
{
    public static readonly RequestHead Empty = new()
    {
        Line = Segment.None,
        Target = Segment.None,
        Host = Segment.None,
        TransferEncoding = Segment.None,
        Range = Segment.None,
        IfRange = Segment.None,
        IfMatch = Segment.None,
        IfNoneMatch = Segment.None,
        IfModifiedSince = Segment.None,
        IfUnmodifiedSince = Segment.None,
        Expect = Segment.None,
        Referer = Segment.None,
        UserAgent = Segment.None,
        ContentLength = -1,
    };

    /// <summary>The request line as received (without its line end), for the access log.</summary>
    public Segment Line;

    public Method Method;

    /// <summary>The request target's path and query (the path of an absolute-form target; empty there means "/").</summary>
    public Segment Target;

    /// <summary>10 or 11 (any later HTTP/1.x is answered as 1.1).</summary>
    public int Version;

    /// <summary>-1 when absent.</summary>
    public long ContentLength;

    /// <summary>Transfer-Encoding: chunked (the only coding accepted; the parser refuses the others).</summary>
    public bool Chunked;

    public bool KeepAlive;

    /// <summary>Expect: 100-continue on an HTTP/1.1 request.</summary>
    public bool ExpectContinue;

    public Segment Host;
    public Segment TransferEncoding;
    public Segment Expect;
    public Segment Range;
    public Segment IfRange;
    public Segment IfMatch;
    public Segment IfNoneMatch;
    public Segment IfModifiedSince;
    public Segment IfUnmodifiedSince;

    /// <summary>The first Referer field, for the access log.</summary>
    public Segment Referer;

    /// <summary>The first User-Agent field, for the access log.</summary>
    public Segment UserAgent;
}
