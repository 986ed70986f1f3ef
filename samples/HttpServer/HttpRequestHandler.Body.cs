using System.Buffers.Text;

namespace Asyncore.Samples.Http;

/// <summary>
/// Request bodies, for POST /echo: Content-Length bytes read with an integer terminator, or a
/// chunked body (RFC 9112 7.1) decoded the way nginx does, with the same size limit on the
/// decoded bytes; "100 Continue" first when the client asked for it.
/// </summary>
public sealed partial class HttpRequestHandler
{
    /// <summary>The longest chunk-size line (size and extensions) accepted.</summary>
    private const int MaxChunkLine = 1024;

    private void StartBody(bool echo)
    {
        ref readonly RequestHead h = ref _parser.Head;
        if (!echo)
        {
            Fail(405, "only /echo takes POST", allow: "GET, HEAD");
            return;
        }

        if (!h.Chunked && h.ContentLength < 0)
        {
            Fail(411, "a POST needs a Content-Length or a chunked body");
            return;
        }

        if (h.ContentLength > _options.MaxBody)
        {
            Fail(413, $"the body is over {_options.MaxBody} bytes");
            return;
        }

        _bodyLength = 0;
        if (!h.Chunked && h.ContentLength == 0)
        {
            Complete(); // a count of 0 would collect forever, so the request is complete now
            return;
        }

        if (h.ExpectContinue)
        {
            // RFC 9110 10.1.1: the client waits for this before it sends the body.
            Emit("HTTP/1.1 100 Continue\r\n\r\n"u8);
        }

        if (h.Chunked)
        {
            _phase = Phase.ChunkSize;
            _trailerBytes = 0;
            StartLine();
            StartClock(); // the terminator is already "\n"
            return;
        }

        _phase = Phase.Body;
        StartClock();
        SetTerminator(h.ContentLength);
    }

    private void AppendBody(ReadOnlySpan<byte> data)
    {
        if (_body.Length - _bodyLength < data.Length)
        {
            Array.Resize(ref _body, (int)Math.Min(_options.MaxBody, Math.Max(_body.Length * 2L, _bodyLength + (long)data.Length)));
        }

        data.CopyTo(_body.AsSpan(_bodyLength));
        _bodyLength += data.Length;
    }

    private void StartLine()
    {
        _lineLength = 0;
        _lineEndsInCr = false;
    }

    /// <summary>
    /// A chunk-size, chunk-end or trailer line, bounded as it arrives (not at its LF, which may never
    /// come): a chunk-size line over 1 KiB is 400 at once, a chunk-end line holding more than its
    /// CRLF is 400 at once, trailer fields over the head limit are 431.
    /// </summary>
    private void AppendLine(ReadOnlySpan<byte> data)
    {
        if (_phase == Phase.ChunkSize && _lineLength < MaxChunkLine)
        {
            _line ??= new byte[MaxChunkLine];
            int keep = Math.Min(data.Length, MaxChunkLine - _lineLength);
            data[..keep].CopyTo(_line.AsSpan(_lineLength));
        }

        // Saturates, so no number of bytes without an LF can wrap it.
        _lineLength = (int)Math.Min(MaxChunkLine + 1L, (long)_lineLength + data.Length);
        _lineEndsInCr = data[^1] == '\r';
        if (_phase == Phase.ChunkSize && _lineLength > MaxChunkLine)
        {
            Fail(400, "chunk-size line too long");
        }
        else if (_phase == Phase.ChunkEnd && _lineLength > 1)
        {
            Fail(400, "chunk data longer than its size");
        }
        else if (_phase == Phase.Trailer && (_trailerBytes += data.Length) > _options.MaxHeaderBytes)
        {
            Fail(431, $"the trailer fields are over {_options.MaxHeaderBytes} bytes");
        }
    }

    /// <summary>The line had nothing before its LF but an optional CR.</summary>
    private bool LineIsEmpty => _lineLength == 0 || (_lineLength == 1 && _lineEndsInCr);

    /// <summary>chunk-size [; extensions]: the next chunk's data, or the last chunk and then the trailer.</summary>
    private void OnChunkSize()
    {
        if (_lineLength > MaxChunkLine)
        {
            Fail(400, "chunk-size line too long");
            return;
        }

        ReadOnlySpan<byte> line = _line.AsSpan(0, _lineLength);
        if (_lineEndsInCr)
        {
            line = line[..^1];
        }

        int semicolon = line.IndexOf((byte)';');
        ReadOnlySpan<byte> hex = (semicolon < 0 ? line : line[..semicolon]).TrimEnd(" \t"u8);
        if (hex.IsEmpty || hex.Length > 15 || hex.IndexOfAnyExcept("0123456789abcdefABCDEF"u8) >= 0
            || !Utf8Parser.TryParse(hex, out long size, out _, 'x'))
        {
            Fail(400, "invalid chunk size");
            return;
        }

        if (size == 0)
        {
            _phase = Phase.Trailer;
            StartLine();
            return;
        }

        if (_bodyLength + size > _options.MaxBody)
        {
            Fail(413, $"the body is over {_options.MaxBody} bytes");
            return;
        }

        _phase = Phase.ChunkData;
        SetTerminator(size);
    }

    /// <summary>The whole body is in: answer POST /echo.</summary>
    private void OnBody()
    {
        CgiData = FormData.Parse(_body.AsSpan(0, _bodyLength));
        SendEcho(CgiData);
        Next();
    }
}
