using System.Buffers.Text;
using System.Text;
using Asyncore;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Samples.Http;

/// <summary>What happens to the connection after an answer, as its Connection field says.</summary>
internal enum Persistence
{
    /// <summary>HTTP/1.1's default: no field.</summary>
    KeepAlive,

    /// <summary>An HTTP/1.0 client that asked to keep the connection is told it is kept.</summary>
    KeepAliveHttp10,

    /// <summary>Connection: close.</summary>
    Close,
}

/// <summary>
/// A response head being written into the loop thread's scratch buffer: the status line, Server and
/// Date first, then the caller's fields, then <see cref="End"/>. Nothing is allocated.
/// </summary>
internal ref struct ResponseHead
{
    private readonly byte[] _buffer;
    private int _length;

    public ResponseHead(int status)
    {
        _buffer = ResponseWriter.Scratch;
        Status = status;
        Ascii("HTTP/1.1 ");
        Number(status);
        Bytes(" "u8);
        Bytes(ResponseWriter.Reason(status));
        Bytes("\r\nServer: Asyncore\r\nDate: "u8);
        Bytes(HttpDate.Now());
        Bytes("\r\n"u8);
    }

    public int Status { get; }

    /// <summary>The head so far (all of it after <see cref="End"/>).</summary>
    public readonly ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    /// <summary>The free part of the scratch buffer after the head, where a small body can go so both leave in one send.</summary>
    public readonly Span<byte> Room => _buffer.AsSpan(_length);

    /// <summary>A field; <paramref name="name"/> includes ": ".</summary>
    public void Field(scoped ReadOnlySpan<byte> name, scoped ReadOnlySpan<byte> value)
    {
        Bytes(name);
        Bytes(value);
        Bytes("\r\n"u8);
    }

    /// <summary>Fields written before (each with its CRLF), as they are.</summary>
    public void Fields(scoped ReadOnlySpan<byte> fields) => Bytes(fields);

    public void Field(scoped ReadOnlySpan<byte> name, string value)
    {
        Bytes(name);
        Ascii(value);
        Bytes("\r\n"u8);
    }

    public void Field(scoped ReadOnlySpan<byte> name, long value)
    {
        Bytes(name);
        Number(value);
        Bytes("\r\n"u8);
    }

    /// <summary>An HTTP date field (Last-Modified).</summary>
    public void DateField(scoped ReadOnlySpan<byte> name, long unixSeconds)
    {
        Bytes(name);
        _length += HttpDate.Format(unixSeconds, _buffer.AsSpan(_length));
        Bytes("\r\n"u8);
    }

    /// <summary>Content-Range: bytes first-last/length, or bytes */length when <paramref name="count"/> is negative.</summary>
    public void ContentRange(long first, long count, long length)
    {
        Bytes("Content-Range: bytes "u8);
        if (count < 0)
        {
            Bytes("*"u8);
        }
        else
        {
            Number(first);
            Bytes("-"u8);
            Number(first + count - 1);
        }

        Bytes("/"u8);
        Number(length);
        Bytes("\r\n"u8);
    }

    /// <summary>Ends the head, with the Connection field the connection's future needs.</summary>
    public void End(Persistence connection) => Bytes(connection switch
    {
        Persistence.Close => "Connection: close\r\n\r\n"u8,
        Persistence.KeepAliveHttp10 => "Connection: keep-alive\r\n\r\n"u8,
        _ => "\r\n"u8,
    });

    private void Bytes(scoped ReadOnlySpan<byte> b)
    {
        b.CopyTo(_buffer.AsSpan(_length));
        _length += b.Length;
    }

    private void Ascii(string s) => _length += Encoding.ASCII.GetBytes(s, _buffer.AsSpan(_length));

    private void Number(long n)
    {
        Utf8Formatter.TryFormat(n, _buffer.AsSpan(_length), out int w);
        _length += w;
    }
}

/// <summary>
/// Sends answers on one connection: a head and a small body in one push, a larger body after its
/// head, or a file as a <see cref="FileRegion"/>.
/// </summary>
internal sealed class ResponseWriter
{
    /// <summary>The scratch buffer's size: the largest head (a Location field from an 8 KiB path, %-escaped) with room to spare.</summary>
    public const int ScratchSize = 64 * 1024;

    [ThreadStatic]
    private static byte[]? t_scratch;

    private readonly HttpRequestHandler _channel;

    public ResponseWriter(HttpRequestHandler channel) => _channel = channel;

    /// <summary>One buffer per loop thread: heads are built and pushed (copied) before anything else runs.</summary>
    public static byte[] Scratch => t_scratch ??= new byte[ScratchSize];

    /// <summary>The head, then <paramref name="body"/> (nothing for a HEAD request); both in one push when they fit the scratch buffer.</summary>
    public void Send(ref ResponseHead head, ReadOnlySpan<byte> body)
    {
        int headLength = head.Written.Length;
        if (!body.IsEmpty && body.Length <= head.Room.Length)
        {
            body.CopyTo(head.Room);
            _channel.Emit(Scratch.AsSpan(0, headLength + body.Length));
            return;
        }

        _channel.Emit(head.Written);
        _channel.Emit(body);
    }

    /// <summary>The length of a one-line text body, "404 Not Found: no such page\n" (statuses have three digits).</summary>
    public static int TextLength(int status, string detail) => 4 + Reason(status).Length + 2 + Encoding.UTF8.GetByteCount(detail) + 1;

    /// <summary>The head, then the one-line text body of <see cref="TextLength"/>, written straight after it in the scratch buffer: one push, nothing allocated.</summary>
    public void SendText(ref ResponseHead head, int status, string detail)
    {
        int length = TextLength(status, detail);
        if (length > head.Room.Length)
        {
            byte[] body = new byte[length];
            WriteText(body, status, detail);
            Send(ref head, body);
            return;
        }

        WriteText(head.Room, status, detail);
        _channel.Emit(Scratch.AsSpan(0, head.Written.Length + length));
    }

    /// <summary>The one-line text body of <see cref="TextLength"/>, as an array.</summary>
    public static byte[] Text(int status, string detail)
    {
        byte[] body = new byte[TextLength(status, detail)];
        WriteText(body, status, detail);
        return body;
    }

    private static void WriteText(Span<byte> to, int status, string detail)
    {
        Utf8Formatter.TryFormat(status, to, out int n);
        to[n++] = (byte)' ';
        ReadOnlySpan<byte> reason = Reason(status);
        reason.CopyTo(to[n..]);
        n += reason.Length;
        ": "u8.CopyTo(to[n..]);
        n += 2;
        n += Encoding.UTF8.GetBytes(detail, to[n..]);
        to[n] = (byte)'\n';
    }

    /// <summary>
    /// The head and <paramref name="count"/> bytes of <paramref name="file"/> read straight after it
    /// in the scratch buffer (the caller checked they fit), in one push.
    /// </summary>
    /// <returns>False if the file ended early (it shrank since it was measured); nothing was sent then.</returns>
    public bool SendSmallFile(ref ResponseHead head, SafeFileHandle file, long offset, int count)
    {
        int headLength = head.Written.Length;
        Span<byte> room = head.Room[..count];
        int read = 0;
        while (read < count)
        {
            int n = RandomAccess.Read(file, room[read..], offset + read);
            if (n <= 0)
            {
                return false;
            }

            read += n;
        }

        _channel.Emit(Scratch.AsSpan(0, headLength + count));
        return true;
    }

    /// <summary>The head, then the producer's blocks (or the file region) as the socket takes them.</summary>
    public void SendWithProducer(ref ResponseHead head, IProducer producer)
    {
        _channel.Emit(head.Written);
        _channel.EmitProducer(producer);
    }

    /// <summary>The reason phrase of every status this server sends.</summary>
    public static ReadOnlySpan<byte> Reason(int status) => status switch
    {
        100 => "Continue"u8,
        200 => "OK"u8,
        206 => "Partial Content"u8,
        301 => "Moved Permanently"u8,
        304 => "Not Modified"u8,
        400 => "Bad Request"u8,
        403 => "Forbidden"u8,
        404 => "Not Found"u8,
        405 => "Method Not Allowed"u8,
        411 => "Length Required"u8,
        412 => "Precondition Failed"u8,
        413 => "Content Too Large"u8,
        414 => "URI Too Long"u8,
        416 => "Range Not Satisfiable"u8,
        417 => "Expectation Failed"u8,
        431 => "Request Header Fields Too Large"u8,
        500 => "Internal Server Error"u8,
        501 => "Not Implemented"u8,
        505 => "HTTP Version Not Supported"u8,
        _ => "Unknown"u8,
    };
}
