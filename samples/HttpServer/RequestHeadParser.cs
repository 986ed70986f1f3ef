using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace Asyncore.Samples.Http;

/// <summary>What <see cref="RequestHeadParser.Feed"/> reached.</summary>
internal enum HeadStatus
{
    /// <summary>All the bytes were taken; the head is not complete yet.</summary>
    NeedMore,

    /// <summary>The empty line that ends the head was taken; <see cref="RequestHeadParser.Head"/> holds it.</summary>
    Done,

    /// <summary>The head is refused; <see cref="RequestHeadParser.Error"/> says why.</summary>
    Error,
}

/// <summary>A refusal: the status to answer and a line for the body.</summary>
internal readonly record struct HttpError(int Status, string Detail);

/// <summary>
/// The request head (RFC 9112: request line, header fields, empty line) as a pure step over bytes:
/// feed it the stream split anywhere and it answers the same. It keeps the head's bytes (at most
/// the size limit) so the head's values are segments of one buffer, and stops right after the
/// empty line, so the bytes after it (a body, the next request) are the caller's. A line ends with
/// CRLF or a bare LF (RFC 9112 2.2; nginx accepts both). Nothing is allocated once the buffer has
/// grown to the largest head seen.
/// </summary>
internal sealed class RequestHeadParser
{
    // CTLs but HTAB (RFC 9110 5.5: field values are VCHAR, SP, HTAB and obs-text): NUL, a bare CR, ESC, DEL...
    private static readonly SearchValues<byte> Controls = SearchValues.Create(
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127]);

    private static readonly SearchValues<byte> TokenChars = SearchValues.Create(
        "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    private readonly int _maxBytes;
    private byte[] _buffer = new byte[1024];
    private int _length;
    private int _lineStart;
    private bool _sawRequestLine;
    private bool _close;
    private bool _keepAlive;
    private RequestHead _head = RequestHead.Empty;

    /// <param name="maxBytes">The largest head, blank lines before it and line ends included (431 above it; 414 when the request line alone is over it).</param>
    public RequestHeadParser(int maxBytes) => _maxBytes = maxBytes;

    /// <summary>The head, complete once <see cref="Feed"/> answered <see cref="HeadStatus.Done"/>.</summary>
    public ref readonly RequestHead Head => ref _head;

    /// <summary>Why the head was refused, after <see cref="HeadStatus.Error"/>.</summary>
    public HttpError Error { get; private set; }

    /// <summary>No byte of a head has arrived since the last <see cref="Reset"/>.</summary>
    public bool IsEmpty => _length == 0;

    /// <summary>The bytes of a segment of <see cref="Head"/>; valid until the next <see cref="Reset"/>.</summary>
    public ReadOnlySpan<byte> this[Segment segment] => segment.IsPresent ? _buffer.AsSpan(segment.Start, segment.Length) : [];

    /// <summary>Ready for the next request's head (the buffer is kept).</summary>
    public void Reset()
    {
        _length = 0;
        _lineStart = 0;
        _sawRequestLine = false;
        _close = false;
        _keepAlive = false;
        _head = RequestHead.Empty;
        Error = default;
    }

    /// <summary>
    /// Takes bytes up to the end of the head. After <see cref="HeadStatus.Done"/> or
    /// <see cref="HeadStatus.Error"/> it takes nothing more until <see cref="Reset"/>.
    /// </summary>
    /// <param name="data">The next bytes of the stream.</param>
    /// <param name="consumed">How many of them belong to the head (all of them unless it ended or was refused).</param>
    /// <returns>Where the head is.</returns>
    public HeadStatus Feed(ReadOnlySpan<byte> data, out int consumed)
    {
        consumed = 0;
        if (Error.Status != 0)
        {
            return HeadStatus.Error;
        }

        while (consumed < data.Length)
        {
            ReadOnlySpan<byte> rest = data[consumed..];
            int lf = rest.IndexOf((byte)'\n');
            int take = lf < 0 ? rest.Length : lf + 1;
            if (_length + take > _maxBytes)
            {
                consumed += take;
                _head.Line = _sawRequestLine ? _head.Line : new Segment(_lineStart, _length - _lineStart);
                return _sawRequestLine
                    ? Fail(431, $"the request head is over {_maxBytes} bytes")
                    : Fail(414, $"the request line is over {_maxBytes} bytes");
            }

            if (_buffer.Length < _length + take)
            {
                Array.Resize(ref _buffer, Math.Min(_maxBytes, Math.Max(_buffer.Length * 2, _length + take)));
            }

            rest[..take].CopyTo(_buffer.AsSpan(_length));
            _length += take;
            consumed += take;
            if (lf >= 0)
            {
                HeadStatus status = EndOfLine();
                if (status != HeadStatus.NeedMore)
                {
                    return status;
                }
            }
        }

        return HeadStatus.NeedMore;
    }

    private HeadStatus EndOfLine()
    {
        int end = _length - 1; // the LF
        if (end > _lineStart && _buffer[end - 1] == '\r')
        {
            end--;
        }

        var line = new Segment(_lineStart, end - _lineStart);
        _lineStart = _length;
        if (!_sawRequestLine)
        {
            if (line.Length == 0)
            {
                return HeadStatus.NeedMore; // RFC 9112 2.2: empty lines before the request line are ignored
            }

            _sawRequestLine = true;
            _head.Line = line;
            return HasControls(line) ? ControlFailure() : RequestLine(line);
        }

        if (line.Length == 0)
        {
            return Complete();
        }

        return HasControls(line) ? ControlFailure() : FieldLine(line);
    }

    private bool HasControls(Segment line) => this[line].IndexOfAny(Controls) >= 0;

    // RFC 9110 5.5: CR, LF and NUL in a value must be refused (or replaced); the other controls are refused too.
    private HeadStatus ControlFailure() => Fail(400, "a control character in the request head");

    private HeadStatus RequestLine(Segment segment)
    {
        ReadOnlySpan<byte> line = this[segment];
        int sp1 = line.IndexOf((byte)' ');
        int sp2 = sp1 < 0 ? -1 : line[(sp1 + 1)..].IndexOf((byte)' ');
        if (sp1 <= 0 || sp2 <= 0 || line[(sp1 + 1 + sp2 + 1)..].IndexOf((byte)' ') >= 0 || line.IndexOf((byte)'\t') >= 0)
        {
            return Fail(400, "malformed request line");
        }

        ReadOnlySpan<byte> method = line[..sp1];
        ReadOnlySpan<byte> version = line[(sp1 + 1 + sp2 + 1)..];
        if (method.IndexOfAnyExcept(TokenChars) >= 0)
        {
            return Fail(400, "malformed request line");
        }

        if (version.SequenceEqual("HTTP/1.1"u8))
        {
            _head.Version = 11;
        }
        else if (version.SequenceEqual("HTTP/1.0"u8))
        {
            _head.Version = 10;
        }
        else if (version.Length > 5 && version.StartsWith("HTTP/"u8) && version[5..].IndexOfAnyExcept("0123456789."u8) < 0)
        {
            if (version.Length > 7 && version.StartsWith("HTTP/1."u8) && version[7..].IndexOfAnyExcept("0123456789"u8) < 0)
            {
                _head.Version = 11; // RFC 9110 2.5: a later 1.x is answered as the highest 1.x we speak (nginx does the same)
            }
            else
            {
                return Fail(505, "this server speaks HTTP/1.0 and HTTP/1.1");
            }
        }
        else
        {
            return Fail(400, "malformed HTTP version");
        }

        _head.Method = method.SequenceEqual("GET"u8) ? Method.Get
            : method.SequenceEqual("HEAD"u8) ? Method.Head
            : method.SequenceEqual("POST"u8) ? Method.Post
            : Method.Other;

        int targetStart = segment.Start + sp1 + 1;
        ReadOnlySpan<byte> target = line.Slice(sp1 + 1, sp2);
        if (target[0] == '/')
        {
            _head.Target = new Segment(targetStart, sp2);
            return HeadStatus.NeedMore;
        }

        // absolute-form (RFC 9112 3.2.2): the path (and query) after the authority; "http://host" is "/".
        int scheme = target.Length >= 7 && Ascii.EqualsIgnoreCase(target[..7], "http://"u8) ? 7
            : target.Length >= 8 && Ascii.EqualsIgnoreCase(target[..8], "https://"u8) ? 8
            : 0;
        if (scheme == 0 || target.Length == scheme)
        {
            return Fail(400, "the request target must be a path or an http URL");
        }

        int pathAt = target[scheme..].IndexOfAny("/?"u8);
        int skip = pathAt < 0 ? target.Length : scheme + pathAt;
        _head.Target = new Segment(targetStart + skip, sp2 - skip);
        return HeadStatus.NeedMore;
    }

    private HeadStatus FieldLine(Segment segment)
    {
        ReadOnlySpan<byte> line = this[segment];
        int colon = line.IndexOf((byte)':');
        if (colon <= 0 || line[..colon].IndexOfAnyExcept(TokenChars) >= 0)
        {
            // RFC 9112 5.1: no whitespace before the colon; 5.2: obs-fold (a line starting with SP) is refused too.
            return Fail(400, "malformed header field");
        }

        ReadOnlySpan<byte> name = line[..colon];
        ReadOnlySpan<byte> raw = line[(colon + 1)..];
        int lead = raw.IndexOfAnyExcept(" \t"u8);
        ReadOnlySpan<byte> value = lead < 0 ? [] : raw[lead..].TrimEnd(" \t"u8);
        var at = new Segment(segment.Start + colon + 1 + Math.Max(lead, 0), value.Length);
        switch (name.Length)
        {
            case 4 when Ascii.EqualsIgnoreCase(name, "Host"u8):
                if (_head.Host.IsPresent)
                {
                    return Fail(400, "more than one Host header");
                }

                // nginx's rules: not empty, no path separator, no "..".
                if (value.IsEmpty || value.IndexOfAny("/\\"u8) >= 0 || value.IndexOf(".."u8) >= 0)
                {
                    return Fail(400, "invalid Host header");
                }

                _head.Host = at;
                break;
            case 5 when Ascii.EqualsIgnoreCase(name, "Range"u8):
                if (!_head.Range.IsPresent)
                {
                    _head.Range = at; // nginx keeps the first
                }

                break;
            case 6 when Ascii.EqualsIgnoreCase(name, "Expect"u8):
                return Unique(ref _head.Expect, at, "Expect");
            case 7 when Ascii.EqualsIgnoreCase(name, "Referer"u8):
                _head.Referer = _head.Referer.IsPresent ? _head.Referer : at; // the first, for the log
                break;
            case 10 when Ascii.EqualsIgnoreCase(name, "User-Agent"u8):
                _head.UserAgent = _head.UserAgent.IsPresent ? _head.UserAgent : at;
                break;
            case 8 when Ascii.EqualsIgnoreCase(name, "If-Match"u8):
                return Unique(ref _head.IfMatch, at, "If-Match");
            case 8 when Ascii.EqualsIgnoreCase(name, "If-Range"u8):
                return Unique(ref _head.IfRange, at, "If-Range");
            case 10 when Ascii.EqualsIgnoreCase(name, "Connection"u8):
                foreach (Range part in value.Split((byte)','))
                {
                    ReadOnlySpan<byte> token = value[part].Trim(" \t"u8);
                    _close |= Ascii.EqualsIgnoreCase(token, "close"u8);
                    _keepAlive |= Ascii.EqualsIgnoreCase(token, "keep-alive"u8);
                }

                break;
            case 13 when Ascii.EqualsIgnoreCase(name, "If-None-Match"u8):
                return Unique(ref _head.IfNoneMatch, at, "If-None-Match");
            case 14 when Ascii.EqualsIgnoreCase(name, "Content-Length"u8):
                if (value.IsEmpty || value.IndexOfAnyExcept("0123456789"u8) >= 0
                    || !Utf8Parser.TryParse(value, out long length, out int used) || used != value.Length
                    || (_head.ContentLength >= 0 && _head.ContentLength != length))
                {
                    return Fail(400, "invalid Content-Length");
                }

                _head.ContentLength = length;
                break;
            case 17 when Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8):
                return Unique(ref _head.TransferEncoding, at, "Transfer-Encoding");
            case 17 when Ascii.EqualsIgnoreCase(name, "If-Modified-Since"u8):
                return Unique(ref _head.IfModifiedSince, at, "If-Modified-Since");
            case 19 when Ascii.EqualsIgnoreCase(name, "If-Unmodified-Since"u8):
                return Unique(ref _head.IfUnmodifiedSince, at, "If-Unmodified-Since");
        }

        return HeadStatus.NeedMore;
    }

    /// <summary>A header nginx takes once: a second one is refused.</summary>
    private HeadStatus Unique(ref Segment field, Segment at, string name)
    {
        if (field.IsPresent)
        {
            return Fail(400, $"more than one {name} header");
        }

        field = at;
        return HeadStatus.NeedMore;
    }

    /// <summary>The empty line: the rules that need the whole head.</summary>
    private HeadStatus Complete()
    {
        if (_head.Version == 11 && !_head.Host.IsPresent)
        {
            return Fail(400, "an HTTP/1.1 request needs a Host header"); // RFC 9112 3.2
        }

        if (_head.TransferEncoding.IsPresent)
        {
            if (_head.Version == 10)
            {
                return Fail(400, "Transfer-Encoding in an HTTP/1.0 request");
            }

            if (_head.ContentLength >= 0)
            {
                return Fail(400, "both Transfer-Encoding and Content-Length"); // RFC 9112 6.1: a smuggling attempt
            }

            if (!Ascii.EqualsIgnoreCase(this[_head.TransferEncoding], "chunked"u8))
            {
                return Fail(501, "the only transfer coding understood is chunked");
            }

            _head.Chunked = true;
        }

        if (_head.Expect.IsPresent && _head.Version == 11)
        {
            // RFC 9110 10.1.1: 100-continue is the only expectation; HTTP/1.0 requests' Expect is ignored.
            if (!Ascii.EqualsIgnoreCase(this[_head.Expect], "100-continue"u8))
            {
                return Fail(417, "the only expectation met is 100-continue");
            }

            _head.ExpectContinue = true;
        }

        _head.KeepAlive = _head.Version == 11 ? !_close : _keepAlive && !_close;
        return HeadStatus.Done;
    }

    private HeadStatus Fail(int status, string detail)
    {
        Error = new HttpError(status, detail);
        return HeadStatus.Error;
    }
}
