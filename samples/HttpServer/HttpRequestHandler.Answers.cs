using System.Buffers;
using System.Text;

namespace Asyncore.Samples.Http;

/// <summary>The answers that are not files: the built-in page, POST /echo, errors; and the access log.</summary>
public sealed partial class HttpRequestHandler
{
    private static readonly byte[] BuiltInPage = Encoding.ASCII.GetBytes(
        "Hello, World!\nThis is the HTTP server sample of Asyncore (Python's asyncore and asynchat for .NET).\n");

    /// <summary>The page served without --root: the benchmarked path, so it allocates nothing.</summary>
    private void SendBuiltInPage()
    {
        // The whole answer is the same for every request within a second (only Date changes), so it
        // is built once per second and persistence kind and pushed as it is, as nginx and h2o cache
        // their Date header.
        if (!IsHead)
        {
            byte[] date = HttpDate.Now();
            PageCache cache = t_page ??= new PageCache();
            int kind = (int)Persistence;
            if (!ReferenceEquals(cache.Dates[kind], date))
            {
                var fresh = new ResponseHead(200);
                fresh.Field("Content-Type: "u8, "text/plain; charset=utf-8"u8);
                fresh.Field("Content-Length: "u8, BuiltInPage.Length);
                fresh.End(Persistence);
                cache.Answers[kind] = [.. fresh.Written, .. BuiltInPage];
                cache.Dates[kind] = date;
            }

            Emit(cache.Answers[kind]!);
            Answered(200, BuiltInPage.Length);
            return;
        }

        var head = new ResponseHead(200);
        head.Field("Content-Type: "u8, "text/plain; charset=utf-8"u8);
        head.Field("Content-Length: "u8, BuiltInPage.Length);
        head.End(Persistence);
        Writer.Send(ref head, IsHead ? [] : BuiltInPage);
        Answered(200, IsHead ? 0 : BuiltInPage.Length);
    }

    /// <summary>The built-in page's whole answer per persistence kind, with the Date it was built for (one per loop thread).</summary>
    private sealed class PageCache
    {
        public readonly byte[]?[] Dates = new byte[]?[3];
        public readonly byte[]?[] Answers = new byte[]?[3];
    }

    [ThreadStatic]
    private static PageCache? t_page;

    /// <summary>Without --root, any path but the page's is 404 once it is known to be a valid one.</summary>
    private void ServeNoRoot(ReadOnlySpan<byte> path)
    {
        byte[]? rented = null;
        Span<byte> decoded = path.Length <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(path.Length));
        PathStatus status = TargetPath.Decode(path, decoded, out int length);
        ReadOnlySpan<byte> name = decoded[..length];
        bool page = status == PathStatus.Ok && (name.SequenceEqual("/"u8) || name.SequenceEqual("/index.html"u8));
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        switch (status)
        {
            case PathStatus.BadRequest:
                Fail(400, "the path is not valid (a broken %-escape, a NUL, or not UTF-8)");
                break;
            case PathStatus.Forbidden:
                Fail(403, "the path leaves the document root");
                break;
            default:
                if (page)
                {
                    SendBuiltInPage();
                }
                else
                {
                    Fail(404, "no such page", close: false);
                }

                break;
        }
    }

    private void SendEcho(List<KeyValuePair<string, string>> fields)
    {
        var text = new StringBuilder();
        foreach (var (name, value) in fields)
        {
            text.Append(name).Append('=').Append(value).Append('\n');
        }

        byte[] body = Encoding.UTF8.GetBytes(text.ToString());
        var head = new ResponseHead(200);
        head.Field("Content-Type: "u8, "text/plain; charset=utf-8"u8);
        head.Field("Content-Length: "u8, body.Length);
        head.End(Persistence);
        Writer.Send(ref head, body);
        Answered(200, body.Length);
    }

    /// <summary>
    /// An answer with a one-line text body ("404 Not Found: no such file"). By default the
    /// connection closes once it is sent and input is ignored until then, as nginx does after
    /// 400, 413, 414, 500 and 501 and after any error in the request head: the stream may no longer
    /// be in step. 404, 403, 412 and 416 on a good request keep the connection.
    /// </summary>
    internal void Fail(int status, string detail, bool close = true, string? allow = null, string? location = null, long rangeLength = -1)
    {
        if (close)
        {
            _phase = Phase.Closing;
            _requestStarted = 0;
            SetTerminator(null);
        }

        int bodyLength = ResponseWriter.TextLength(status, detail);
        var head = new ResponseHead(status);
        head.Field("Content-Type: "u8, "text/plain; charset=utf-8"u8);
        head.Field("Content-Length: "u8, bodyLength);
        if (allow is not null)
        {
            head.Field("Allow: "u8, allow);
        }

        if (location is not null)
        {
            head.Field("Location: "u8, location);
        }

        if (rangeLength >= 0)
        {
            head.ContentRange(0, -1, rangeLength);
        }

        head.End(close ? Persistence.Close : Persistence);
        if (IsHead)
        {
            Writer.Send(ref head, []);
        }
        else
        {
            Writer.SendText(ref head, status, detail);
        }

        Answered(status, IsHead ? 0 : bodyLength);
        if (close)
        {
            EmitCloseWhenDone();
        }
    }

    /// <summary>
    /// The access log line of the current request, to be written when its body has gone out: the
    /// request's fields are copied now (the parser moves on to the next request), the byte count is
    /// given later. Null with --quiet.
    /// </summary>
    internal Action<long>? AnsweredLater(int status)
    {
        if (_options.Quiet)
        {
            return null;
        }

        ref readonly RequestHead h = ref _parser.Head;
        string host = _host ??= AccessLog.Host(_addr);
        byte[] line = _parser[h.Line].ToArray(), referer = _parser[h.Referer].ToArray(), userAgent = _parser[h.UserAgent].ToArray();
        TextWriter log = _options.Log;
        return sent => AccessLog.Write(log, host, line, status, sent, referer, userAgent);
    }

    /// <summary>Writes the access log line for an answer.</summary>
    internal void Answered(int status, long bytes)
    {
        if (!_options.Quiet)
        {
            ref readonly RequestHead h = ref _parser.Head;
            AccessLog.Write(_options.Log, _host ??= AccessLog.Host(_addr), _parser[h.Line], status, bytes, _parser[h.Referer], _parser[h.UserAgent]);
        }
    }
}
