using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore;

namespace Asyncore.Samples.Http;

/// <summary>
/// One HTTP/1.1 connection, written the way the asynchat documentation's http_request_handler is:
/// the terminator is "\r\n\r\n" while the headers are read; a POST body is read with its
/// Content-Length as an integer terminator; then the terminator is None so over-sent bytes are
/// ignored, and <see cref="HandleRequest"/> runs once everything is marshalled. Completed into a
/// small server: keep-alive and pipelining (the next request is read with the terminator set back
/// to "\r\n\r\n" inside FoundTerminator, so it applies to bytes already received), files under a
/// root, POST /echo, and a clear error answer for bad input.
/// </summary>
public sealed class HttpRequestHandler : AsyncChat
{
    private static readonly Terminator HeaderEnd = Terminator.FromBytes("\r\n\r\n"u8);
    private static readonly byte[] BuiltInPage = Encoding.ASCII.GetBytes(
        "Hello, World!\nThis is the HTTP server sample of Asyncore (Python's asyncore and asynchat for .NET).\n");

    [ThreadStatic]
    private static byte[]? t_scratch;

    private readonly EndPoint _addr;
    private readonly HttpServerOptions _options;
    private byte[] _ibuffer = new byte[1024];
    private int _ilen;
    private bool _readingHeaders = true;
    private bool _handling;
    private Request _request;
    private FileProducer? _file;

    /// <summary>What the request head said.</summary>
    private struct Request
    {
        public string Line;
        public Method Method;
        public string Target;
        public int Version; // 10 or 11
        public long ContentLength; // -1 when absent
        public bool Chunked;
        public bool KeepAlive;
    }

    private enum Method
    {
        Other,
        Get,
        Head,
        Post,
    }

    public HttpRequestHandler(Socket socket, EndPoint addr, HttpServerOptions options, SocketMap map) : base(socket, map)
    {
        _addr = addr;
        _options = options;
        SetTerminator(HeaderEnd);
        IdleTimeout = options.IdleTimeout;
        MessageTimeout = options.RequestTimeout;
        OutputHardLimit = options.OutputLimit;
    }

    /// <summary>The fields of the last urlencoded POST body, decoded, in order (the example's cgi_data).</summary>
    public List<KeyValuePair<string, string>>? CgiData { get; private set; }

    /// <summary>Buffers the data (the example's ibuffer), bounded by the head and body limits.</summary>
    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        if (_handling)
        {
            return; // over-sent bytes after a final answer are ignored
        }

        if (_readingHeaders && _ilen + data.Length > _options.MaxHeaderBytes)
        {
            Fail(431, "Request Header Fields Too Large", $"the request head is over {_options.MaxHeaderBytes} bytes");
            return;
        }

        if (_ibuffer.Length - _ilen < data.Length)
        {
            Array.Resize(ref _ibuffer, Math.Max(_ibuffer.Length * 2, _ilen + data.Length));
        }

        data.CopyTo(_ibuffer.AsSpan(_ilen));
        _ilen += data.Length;
    }

    protected override void FoundTerminator()
    {
        if (_readingHeaders)
        {
            _readingHeaders = false;
            bool ok = ParseHeaders(_ibuffer.AsSpan(0, _ilen));
            _ilen = 0;
            if (!ok)
            {
                return;
            }

            if (_request.Method == Method.Post)
            {
                if (_request.ContentLength < 0)
                {
                    Fail(411, "Length Required", "a POST needs a Content-Length");
                    return;
                }

                if (_request.ContentLength > _options.MaxBody)
                {
                    Fail(413, "Content Too Large", $"the body is over {_options.MaxBody} bytes");
                    return;
                }

                if (_request.ContentLength > 0)
                {
                    SetTerminator(_request.ContentLength);
                    return;
                }

                // An empty body: a count of 0 would collect forever, so the request is complete now.
                CgiData = ParseForm([]);
                _handling = true;
                HandleRequest();
                return;
            }

            if (_request.ContentLength > 0 || _request.Chunked)
            {
                Fail(400, "Bad Request", "only POST may carry a body");
                return;
            }

            _handling = true;
            SetTerminator(null);
            HandleRequest();
        }
        else if (!_handling)
        {
            SetTerminator(null); // browsers sometimes over-send
            CgiData = ParseForm(_ibuffer.AsSpan(0, _ilen));
            _ilen = 0;
            _handling = true;
            HandleRequest();
        }
    }

    /// <summary>Answers the marshalled request, then reads the next one or closes.</summary>
    private void HandleRequest()
    {
        Request r = _request;
        string path = r.Target;
        int q = path.IndexOfAny(['?', '#']);
        if (q >= 0)
        {
            path = path[..q];
        }

        if (path == "/echo")
        {
            if (r.Method != Method.Post)
            {
                Fail(405, "Method Not Allowed", "/echo takes POST", allow: "POST");
                return;
            }

            var body = new StringBuilder();
            foreach (var (name, value) in CgiData!)
            {
                body.Append(name).Append('=').Append(value).Append('\n');
            }

            Respond(200, "OK", "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(body.ToString()));
        }
        else if (r.Method == Method.Post)
        {
            Fail(405, "Method Not Allowed", "only /echo takes POST", allow: "GET, HEAD");
            return;
        }
        else if (!TryDecodePath(path, out string decoded))
        {
            Fail(400, "Bad Request", "the path is not valid");
            return;
        }
        else if (Climbs(path) || Climbs(decoded))
        {
            Fail(403, "Forbidden", "the path leaves the document root");
            return;
        }
        else if (_options.Root is null)
        {
            if (decoded is "/" or "/index.html")
            {
                Respond(200, "OK", "text/plain; charset=utf-8", BuiltInPage);
            }
            else
            {
                Fail(404, "Not Found", "no such page", close: false);
                return;
            }
        }
        else
        {
            string root = Path.GetFullPath(_options.Root);
            string full = Path.GetFullPath(Path.Join(root, decoded.TrimStart('/')));
            if (!full.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal) && full != root)
            {
                Fail(403, "Forbidden", "the path leaves the document root");
                return;
            }

            if (Directory.Exists(full))
            {
                full = Path.Join(full, "index.html");
            }

            if (!File.Exists(full))
            {
                Fail(404, "Not Found", "no such file", close: false);
                return;
            }

            ServeFile(full);
        }

        Next();
    }

    /// <summary>Keep-alive: back to reading a head; the bytes already received are read with it.</summary>
    private void Next()
    {
        if (_request.KeepAlive)
        {
            _readingHeaders = true;
            _handling = false;
            SetTerminator(HeaderEnd);
        }
        else
        {
            SetTerminator(null);
            CloseWhenDone();
        }
    }

    private void ServeFile(string full)
    {
        var info = new FileInfo(full);
        string type = ContentTypes.For(full);
        if (info.Length <= 64 * 1024 || _request.Method == Method.Head)
        {
            byte[] body = _request.Method == Method.Head ? [] : File.ReadAllBytes(full);
            Respond(200, "OK", type, body, contentLength: info.Length);
            return;
        }

        WriteHead(200, "OK", type, info.Length, close: !_request.KeepAlive, allow: null, out int headLength);
        Push(Scratch(0).AsSpan(0, headLength));
        _file?.Dispose();
        _file = new FileProducer(full);
        PushWithProducer(_file);
        Log(200, info.Length);
    }

    private void Respond(int status, string reason, string type, byte[] body, long? contentLength = null, bool close = false, string? allow = null)
    {
        long length = contentLength ?? body.Length;
        close |= !_request.KeepAlive;
        WriteHead(status, reason, type, length, close, allow, out int headLength);
        bool head = _request.Method == Method.Head;
        if (head || body.Length == 0)
        {
            Push(Scratch(0).AsSpan(0, headLength));
        }
        else if (headLength + body.Length <= 16 * 1024)
        {
            // One send for a small answer: head and body together.
            byte[] scratch = Scratch(headLength + body.Length);
            body.CopyTo(scratch, headLength);
            Push(scratch.AsSpan(0, headLength + body.Length));
        }
        else
        {
            Push(Scratch(0).AsSpan(0, headLength));
            Push(body.AsMemory());
        }

        Log(status, head ? 0 : body.Length);
    }

    /// <summary>An error answer; by default the connection closes once it is sent.</summary>
    private void Fail(int status, string reason, string detail, bool close = true, string? allow = null)
    {
        byte[] body = Encoding.UTF8.GetBytes($"{status} {reason}: {detail}\n");
        if (_request.Line is null)
        {
            _request.Line = "-";
        }

        if (close)
        {
            _request.KeepAlive = false;
            _handling = true;
            SetTerminator(null);
        }

        Respond(status, reason, "text/plain; charset=utf-8", body, close: close, allow: allow);
        if (close)
        {
            CloseWhenDone();
        }
        else
        {
            Next();
        }
    }

    private static byte[] Scratch(int size)
    {
        byte[]? s = t_scratch;
        if (s is null || s.Length < Math.Max(size, 1024))
        {
            s = t_scratch = new byte[Math.Max(Math.Max(size, 1024), (s?.Length ?? 0) * 2)];
        }

        return s;
    }

    private static void WriteHead(int status, string reason, string type, long length, bool close, string? allow, out int written)
    {
        byte[] buf = Scratch(0);
        var w = new SpanWriter(buf);
        w.Ascii("HTTP/1.1 ");
        w.Number(status);
        w.Ascii(" ");
        w.Ascii(reason);
        w.Ascii("\r\nServer: Asyncore\r\nDate: ");
        w.Bytes(HttpDate.Now());
        w.Ascii("\r\nContent-Type: ");
        w.Ascii(type);
        w.Ascii("\r\nContent-Length: ");
        w.Number(length);
        if (allow is not null)
        {
            w.Ascii("\r\nAllow: ");
            w.Ascii(allow);
        }

        w.Ascii(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
        written = w.Position;
    }

    private void Log(int status, long bytes)
    {
        if (_options.Quiet)
        {
            return;
        }

        string host = _addr is IPEndPoint ip ? ip.Address.ToString() : _addr.ToString() ?? "-";
        _options.Log.WriteLine($"{host} - - [{DateTimeOffset.Now:dd/MMM/yyyy:HH:mm:ss zzz}] \"{_request.Line}\" {status} {bytes}");
    }

    /// <summary>The example's parse_headers: request line and header fields, strictly.</summary>
    private bool ParseHeaders(ReadOnlySpan<byte> head)
    {
        _request = new Request { ContentLength = -1 };
        while (head.StartsWith("\r\n"u8))
        {
            head = head[2..]; // RFC 9112 2.2: ignore empty lines before the request line
        }

        int eol = head.IndexOf("\r\n"u8);
        ReadOnlySpan<byte> line = eol < 0 ? head : head[..eol];
        ReadOnlySpan<byte> fields = eol < 0 ? [] : head[(eol + 2)..];
        _request.Line = Encoding.Latin1.GetString(line);

        int sp1 = line.IndexOf((byte)' ');
        int sp2 = sp1 < 0 ? -1 : line[(sp1 + 1)..].IndexOf((byte)' ');
        if (sp1 <= 0 || sp2 <= 0 || line[(sp1 + 1 + sp2 + 1)..].IndexOf((byte)' ') >= 0)
        {
            return Reject(400, "Bad Request", "malformed request line");
        }

        ReadOnlySpan<byte> method = line[..sp1];
        ReadOnlySpan<byte> target = line.Slice(sp1 + 1, sp2);
        ReadOnlySpan<byte> version = line[(sp1 + 1 + sp2 + 1)..];
        if (!IsToken(method) || target.IsEmpty)
        {
            return Reject(400, "Bad Request", "malformed request line");
        }

        if (version.SequenceEqual("HTTP/1.1"u8))
        {
            _request.Version = 11;
        }
        else if (version.SequenceEqual("HTTP/1.0"u8))
        {
            _request.Version = 10;
        }
        else if (version.StartsWith("HTTP/"u8) && version.Length > 5 && version[5..].IndexOfAnyExcept("0123456789."u8) < 0)
        {
            return Reject(505, "HTTP Version Not Supported", "this server speaks HTTP/1.0 and HTTP/1.1");
        }
        else
        {
            return Reject(400, "Bad Request", "malformed HTTP version");
        }

        _request.Method = method.SequenceEqual("GET"u8) ? Method.Get
            : method.SequenceEqual("HEAD"u8) ? Method.Head
            : method.SequenceEqual("POST"u8) ? Method.Post
            : Method.Other;
        if (target[0] != '/')
        {
            if (target.StartsWith("http://"u8) && target[7..].IndexOf((byte)'/') is int slash and >= 0)
            {
                target = target[(7 + slash)..]; // absolute-form: keep the path
            }
            else
            {
                return Reject(400, "Bad Request", "the request target must be a path");
            }
        }

        if (target.IndexOfAnyInRange((byte)0, (byte)0x20) >= 0 || target.IndexOf((byte)0x7f) >= 0)
        {
            return Reject(400, "Bad Request", "control characters in the request target");
        }

        _request.Target = Encoding.Latin1.GetString(target);
        bool close = false, keepAlive = false;
        while (!fields.IsEmpty)
        {
            eol = fields.IndexOf("\r\n"u8);
            ReadOnlySpan<byte> field = eol < 0 ? fields : fields[..eol];
            fields = eol < 0 ? [] : fields[(eol + 2)..];
            int colon = field.IndexOf((byte)':');
            if (colon <= 0 || !IsToken(field[..colon]))
            {
                return Reject(400, "Bad Request", "malformed header field");
            }

            ReadOnlySpan<byte> name = field[..colon];
            ReadOnlySpan<byte> value = field[(colon + 1)..].Trim(" \t"u8);
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (value.IsEmpty || value.IndexOfAnyExcept("0123456789"u8) >= 0
                    || !Utf8Parser.TryParse(value, out long length, out int used) || used != value.Length
                    || (_request.ContentLength >= 0 && _request.ContentLength != length))
                {
                    return Reject(400, "Bad Request", "invalid Content-Length");
                }

                _request.ContentLength = length;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                _request.Chunked = true;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                foreach (Range part in value.Split((byte)','))
                {
                    ReadOnlySpan<byte> token = value[part].Trim(" \t"u8);
                    close |= Ascii.EqualsIgnoreCase(token, "close"u8);
                    keepAlive |= Ascii.EqualsIgnoreCase(token, "keep-alive"u8);
                }
            }
        }

        if (_request.Chunked && _request.ContentLength >= 0)
        {
            return Reject(400, "Bad Request", "both Transfer-Encoding and Content-Length");
        }

        if (_request.Chunked && _request.Method == Method.Post)
        {
            _request.ContentLength = -1; // no length to read by: 411
        }

        _request.KeepAlive = _request.Version == 11 ? !close : keepAlive && !close;
        if (_request.Method == Method.Other)
        {
            return Reject(405, "Method Not Allowed", "this server answers GET, HEAD and POST", allow: "GET, HEAD, POST");
        }

        return true;
    }

    private bool Reject(int status, string reason, string detail, bool close = true, string? allow = null)
    {
        Fail(status, reason, detail, close, allow);
        return false;
    }

    private static bool IsToken(ReadOnlySpan<byte> s) =>
        !s.IsEmpty && s.IndexOfAnyExcept("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8) < 0;

    private static bool Climbs(string path) =>
        path.Contains('\\') || path.Contains('\0') || path.Split('/').Any(segment => segment == "..");

    private static bool TryDecodePath(string path, out string decoded)
    {
        decoded = path;
        if (!path.Contains('%'))
        {
            return true;
        }

        var bytes = new List<byte>(path.Length);
        for (int i = 0; i < path.Length; i++)
        {
            char c = path[i];
            if (c == '%')
            {
                if (i + 2 >= path.Length || !byte.TryParse(path.AsSpan(i + 1, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
                {
                    return false;
                }

                bytes.Add(b);
                i += 2;
            }
            else
            {
                bytes.Add((byte)c);
            }
        }

        try
        {
            decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>The example's parse(headers, data): application/x-www-form-urlencoded fields, decoded, in order.</summary>
    internal static List<KeyValuePair<string, string>> ParseForm(ReadOnlySpan<byte> body)
    {
        var fields = new List<KeyValuePair<string, string>>();
        string text = Encoding.Latin1.GetString(body);
        foreach (string pair in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            string name = eq < 0 ? pair : pair[..eq];
            string value = eq < 0 ? string.Empty : pair[(eq + 1)..];
            fields.Add(new(UrlDecode(name), UrlDecode(value)));
        }

        return fields;
    }

    private static string UrlDecode(string s) => WebUtility.UrlDecode(s);

    /// <summary>Idle keep-alive connections close quietly.</summary>
    protected override void HandleIdle() => Close();

    /// <summary>A request that started but did not arrive in time (a slowloris) is closed quietly.</summary>
    protected override void HandleMessageTimeout() => Close();

    public override void Close()
    {
        base.Close();
        _file?.Dispose();
        _file = null;
    }

    /// <summary>Writes ASCII into a byte array.</summary>
    private ref struct SpanWriter
    {
        private readonly Span<byte> _buffer;

        public SpanWriter(Span<byte> buffer)
        {
            _buffer = buffer;
            Position = 0;
        }

        public int Position { get; private set; }

        public void Ascii(string s) => Position += Encoding.ASCII.GetBytes(s, _buffer[Position..]);

        public void Bytes(ReadOnlySpan<byte> b)
        {
            b.CopyTo(_buffer[Position..]);
            Position += b.Length;
        }

        public void Number(long n)
        {
            Utf8Formatter.TryFormat(n, _buffer[Position..], out int w);
            Position += w;
        }
    }
}
