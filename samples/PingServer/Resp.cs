using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore;

namespace Asyncore.Samples.Ping;

/// <summary>Listens and makes a <see cref="RespHandler"/> per connection.</summary>
public sealed class PingServer : Dispatcher
{
    /// <param name="address">Where to listen.</param>
    /// <param name="map">The loop's map.</param>
    /// <param name="reusePort">Set SO_REUSEPORT, so that one listener per loop shares the port.</param>
    public PingServer(EndPoint address, SocketMap? map = null, bool reusePort = false) : base(null, map)
    {
        CreateSocket(address.AddressFamily);
        SetReuseAddr();
        if (reusePort)
        {
            SetReusePort();
        }

        Bind(address);
        Listen(1024);
    }

    public EndPoint Address => Socket!.LocalEndPoint!;

    /// <summary>Reading from a client pauses while more than this many bytes of replies wait to be sent; null never pauses.</summary>
    public long? HighWaterMark { get; init; } = RespHandler.DefaultHighWaterMark;

    /// <summary>A client whose unsent replies pass this many bytes is disconnected; null: no limit.</summary>
    public long? OutputHardLimit { get; init; } = RespHandler.DefaultOutputHardLimit;

    /// <summary>Connections accepted so far.</summary>
    public int Accepted { get; private set; }

    protected override void HandleAccepted(Socket socket, EndPoint address)
    {
        Accepted++;
        socket.NoDelay = true;
        _ = new RespHandler(socket, Map) { HighWaterMark = HighWaterMark, OutputHardLimit = OutputHardLimit };
    }
}

/// <summary>
/// A RESP server that knows PING (and QUIT), parsing requests as Redis does (src/networking.c),
/// framed by switching terminators. A request that starts with '*' is multibulk: a "*N" line, then
/// for each argument a "$len" line and a count terminator of len + 2 bytes (the argument and its
/// CRLF). Anything else is an inline command: one line of up to 64 KiB ended by "\n" (a "\r" before
/// it is dropped), split into arguments by <see cref="InlineArgs"/> as sdssplitargs does. Errors
/// carry Redis's texts; a protocol error is answered and the connection closed after the answer.
/// </summary>
public sealed class RespHandler : AsyncChat
{
    /// <summary>Redis's PROTO_INLINE_MAX_SIZE: the longest inline command, and the longest "*N" or "$len" line.</summary>
    public const int MaxInline = 64 * 1024;

    /// <summary>The longest bulk argument (Redis's proto-max-bulk-len at its smallest setting, 1 MiB).</summary>
    public const int MaxBulkLength = 1024 * 1024;

    /// <summary>Reading pauses while more than this many bytes of replies wait to be sent.</summary>
    public const long DefaultHighWaterMark = 1024 * 1024;

    /// <summary>A client whose unsent replies pass this many bytes is disconnected.</summary>
    public const long DefaultOutputHardLimit = 16L * 1024 * 1024;

    private const int NameKept = 129;   // enough to print '%.128s' and to tell "PING" from a longer name
    private const int ArgsShown = 128;  // Redis shows arguments until its list reaches 128 bytes
    private const int SmallBuffer = 256;
    private static readonly Terminator Line = Terminator.FromBytes("\n"u8);
    private static readonly byte[] Pong = "+PONG\r\n"u8.ToArray();

    // The line being read (inline command, "*N" or "$len").
    private byte[] _line = new byte[SmallBuffer];
    private int _lineLength;

    // The command being assembled: its name, its second argument (PING's message), and Redis's
    // "with args beginning with: 'a' 'b' " text for an unknown command.
    private readonly byte[] _name = new byte[NameKept];
    private int _nameLength;
    private long _nameTotal;
    private byte[] _arg1 = new byte[SmallBuffer];
    private int _arg1Length;
    private bool _keepArg1;
    private readonly byte[] _shown = new byte[ArgsShown + 3];
    private int _shownLength;
    private readonly byte[] _prefix = new byte[ArgsShown];
    private int _prefixLength;
    private int _argIndex;

    // Multibulk state.
    private long _argc;          // arguments announced by "*N"
    private long _argsLeft;      // bulk arguments still to read
    private bool _inBulk;        // reading an argument's bytes (a count terminator) rather than a line
    private long _bulkLength;
    private long _bulkSeen;      // bytes of the current bulk seen so far (its CRLF included)
    private bool _closing;       // a protocol error was answered: input is ignored until the close

    public RespHandler(Socket socket, SocketMap map) : base(socket, map)
    {
        SetTerminator(Line);
        MaxMessageSize = MaxInline + 1; // the line and the "\r" of its "\r\n"
        OverflowPolicy = OverflowPolicy.Close;
        HighWaterMark = DefaultHighWaterMark; // reading resumes at half of it
        OutputHardLimit = DefaultOutputHardLimit;
    }

    /// <summary>
    /// Between commands: a stopping server (SIGTERM) closes the connection now, and otherwise once the
    /// multibulk command in progress (whose lines each end a message for the framer) is answered.
    /// RESP has no goodbye: the client sees the connection close, as when Redis shuts down.
    /// </summary>
    public override bool IsIdle => base.IsIdle && _argsLeft == 0;

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        if (_closing)
        {
            return;
        }

        if (_inBulk)
        {
            // The argument's bytes, then its CRLF, which Redis skips without looking at.
            long take = Math.Min(data.Length, Math.Max(0, _bulkLength - _bulkSeen));
            _bulkSeen += data.Length;
            if (take > 0)
            {
                ArgumentPart(data[..(int)take]);
            }

            return;
        }

        if (_lineLength + data.Length > _line.Length)
        {
            Array.Resize(ref _line, Math.Max(_line.Length * 2, _lineLength + data.Length));
        }

        data.CopyTo(_line.AsSpan(_lineLength));
        _lineLength += data.Length;
    }

    /// <summary>A line or a bulk over its limit (the Close policy closes once the answer is sent).</summary>
    protected override void HandleOverflow(long droppedBytes)
    {
        if (_closing)
        {
            return; // after QUIT or a protocol error the input is only drained
        }

        string what = _argsLeft > 0 ? "too big bulk count string"
            : _lineLength > 0 && _line[0] == (byte)'*' ? "too big mbulk count string"
            : "too big inline request";
        ProtocolError(what, closeHere: false);
    }

    protected override void FoundTerminator()
    {
        if (_closing)
        {
            return;
        }

        if (_inBulk)
        {
            EndArgument();
            _inBulk = false;
            SetTerminator(Line);
            MaxMessageSize = MaxInline + 1;
            if (--_argsLeft == 0)
            {
                Execute(_argc);
            }

            return;
        }

        Span<byte> line = _line.AsSpan(0, _lineLength);
        _lineLength = 0;
        try
        {
            if (_argsLeft > 0)
            {
                BulkLength(line);
            }
            else if (!line.IsEmpty && line[0] == (byte)'*')
            {
                MultibulkLength(line);
            }
            else
            {
                Inline(line);
            }
        }
        finally
        {
            if (_line.Length > SmallBuffer * 4)
            {
                _line = new byte[SmallBuffer]; // a long line's buffer is given back
            }
        }
    }

    /// <summary>"*N": N arguments follow (none for N ≤ 0, as in Redis).</summary>
    private void MultibulkLength(ReadOnlySpan<byte> line)
    {
        // Redis reads these lines up to "\r" and skips the "\n": a line without its "\r" does not parse.
        if (!line.EndsWith("\r"u8) || !ParseRedisInteger(line[1..^1], out long n) || n > int.MaxValue)
        {
            ProtocolError("invalid multibulk length");
            return;
        }

        if (n <= 0)
        {
            return;
        }

        BeginCommand();
        _argc = _argsLeft = n;
    }

    /// <summary>"$len": the next argument has len bytes.</summary>
    private void BulkLength(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty || line[0] != (byte)'$')
        {
            byte got = line.IsEmpty ? (byte)'\n' : line[0];
            ProtocolError($"expected '$', got '{(char)got}'");
            return;
        }

        if (!line.EndsWith("\r"u8) || !ParseRedisInteger(line[1..^1], out long len) || len < 0 || len > MaxBulkLength)
        {
            ProtocolError("invalid bulk length");
            return;
        }

        _inBulk = true;
        _bulkLength = len;
        _bulkSeen = 0;
        BeginArgument();
        SetTerminator(len + 2);
        MaxMessageSize = len + 2; // the count terminator ends it first
    }

    private void Inline(Span<byte> line)
    {
        if (line.EndsWith("\r"u8))
        {
            line = line[..^1];
        }

        BeginCommand();
        var args = new InlineArgs(line);
        long argc = 0;
        while (args.Next(out ReadOnlySpan<byte> arg))
        {
            BeginArgument();
            if (!arg.IsEmpty)
            {
                ArgumentPart(arg);
            }

            EndArgument();
            argc++;
        }

        if (args.Unbalanced)
        {
            ProtocolError("unbalanced quotes in request");
            return;
        }

        if (argc > 0)
        {
            Execute(argc);
        }
    }

    private void BeginCommand()
    {
        _argc = 0;
        _argIndex = 0;
        _nameLength = 0;
        _nameTotal = 0;
        _arg1Length = 0;
        _shownLength = 0;
        _keepArg1 = true;
    }

    private void BeginArgument()
    {
        _prefixLength = 0;
        if (_argIndex == 1)
        {
            // PING's message is kept whole; for any other command (or a PING with too many
            // arguments) only the start of each argument matters.
            _keepArg1 = IsPing() && (_argc == 0 || _argc == 2);
        }
    }

    private void ArgumentPart(ReadOnlySpan<byte> part)
    {
        if (_argIndex == 0)
        {
            _nameTotal += part.Length;
            Append(_name, ref _nameLength, part);
            return;
        }

        if (_argIndex == 1 && _keepArg1)
        {
            if (_arg1Length + part.Length > _arg1.Length)
            {
                Array.Resize(ref _arg1, Math.Max(_arg1.Length * 2, _arg1Length + part.Length));
            }

            part.CopyTo(_arg1.AsSpan(_arg1Length));
            _arg1Length += part.Length;
        }

        Append(_prefix, ref _prefixLength, part);
    }

    private void EndArgument()
    {
        if (_argIndex > 0 && _shownLength < ArgsShown)
        {
            // sdscatprintf(args, "'%.*s' ", 128 - sdslen(args), arg): up to a NUL, as printf stops there.
            ReadOnlySpan<byte> arg = CString(_prefix.AsSpan(0, _prefixLength));
            arg = arg[..Math.Min(arg.Length, ArgsShown - _shownLength)];
            _shown[_shownLength++] = (byte)'\'';
            arg.CopyTo(_shown.AsSpan(_shownLength));
            _shownLength += arg.Length;
            _shown[_shownLength++] = (byte)'\'';
            _shown[_shownLength++] = (byte)' ';
        }

        _argIndex++;
    }

    private static void Append(byte[] into, ref int length, ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, into.Length - length);
        data[..n].CopyTo(into.AsSpan(length));
        length += n;
    }

    private bool IsPing() => _nameTotal == 4 && Ascii.EqualsIgnoreCase(_name.AsSpan(0, 4), "PING"u8);

    private void Execute(long argc)
    {
        if (IsPing())
        {
            if (argc > 2)
            {
                Error("ERR wrong number of arguments for 'ping' command");
            }
            else if (argc == 2)
            {
                Bulk(_arg1.AsSpan(0, _arg1Length));
            }
            else
            {
                Push(Pong);
            }
        }
        else if (_nameTotal == 4 && Ascii.EqualsIgnoreCase(_name.AsSpan(0, 4), "QUIT"u8))
        {
            Push("+OK\r\n"u8);
            _closing = true;
            SetTerminator(null);
            CloseWhenDone();
        }
        else
        {
            // Redis: "unknown command '%.128s', with args beginning with: %s".
            Span<byte> reply = stackalloc byte[64 + NameKept + ArgsShown + 3];
            int w = 0;
            w += Copy("-ERR unknown command '"u8, reply[w..]);
            ReadOnlySpan<byte> name = CString(_name.AsSpan(0, _nameLength));
            w += Copy(name[..Math.Min(name.Length, 128)], reply[w..]);
            w += Copy("', with args beginning with: "u8, reply[w..]);
            w += Copy(_shown.AsSpan(0, _shownLength), reply[w..]);
            NoNewlines(reply[1..w]);
            w += Copy("\r\n"u8, reply[w..]);
            Push(reply[..w]);
        }

        if (_arg1.Length > SmallBuffer * 4)
        {
            _arg1 = new byte[SmallBuffer];
        }
    }

    private static int Copy(ReadOnlySpan<byte> from, Span<byte> to)
    {
        from.CopyTo(to);
        return from.Length;
    }

    /// <summary>The bytes before the first NUL, as a C string sees them.</summary>
    private static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> bytes) =>
        bytes.IndexOf((byte)0) is int nul and >= 0 ? bytes[..nul] : bytes;

    /// <summary>Redis maps "\r" and "\n" in an error to spaces, so a reply stays one line.</summary>
    private static void NoNewlines(Span<byte> text)
    {
        text.Replace((byte)'\r', (byte)' ');
        text.Replace((byte)'\n', (byte)' ');
    }

    private void Bulk(ReadOnlySpan<byte> value)
    {
        Span<byte> head = stackalloc byte[16];
        head[0] = (byte)'$';
        Utf8Formatter.TryFormat(value.Length, head[1..], out int w);
        head[1 + w] = (byte)'\r';
        head[2 + w] = (byte)'\n';
        Push(head[..(3 + w)]);
        Push(value);
        Push("\r\n"u8);
    }

    private void Error(string message) => Push(Encoding.ASCII.GetBytes($"-{message}\r\n"));

    /// <summary>Answers "-ERR Protocol error: ..." and closes once that is sent, ignoring the rest of the input.</summary>
    private void ProtocolError(string what, bool closeHere = true)
    {
        byte[] reply = Encoding.Latin1.GetBytes($"-ERR Protocol error: {what}\r\n");
        NoNewlines(reply.AsSpan(1, reply.Length - 3));
        Push(reply);
        _closing = true;
        _argsLeft = 0;
        if (closeHere)
        {
            SetTerminator(null);
            CloseWhenDone();
        }
    }

    /// <summary>
    /// Redis's string2ll: an optional '-', then "0" alone or digits that do not start with 0, at most
    /// 20 characters, within a 64-bit integer. "+4", "04", " 4" and "" are not numbers.
    /// </summary>
    public static bool ParseRedisInteger(ReadOnlySpan<byte> s, out long value)
    {
        value = 0;
        if (s.IsEmpty || s.Length >= 21)
        {
            return false;
        }

        if (s.Length == 1 && s[0] == (byte)'0')
        {
            return true;
        }

        bool negative = s[0] == (byte)'-';
        ReadOnlySpan<byte> digits = negative ? s[1..] : s;
        if (digits.IsEmpty || digits[0] is < (byte)'1' or > (byte)'9')
        {
            return false;
        }

        ulong v = 0;
        foreach (byte b in digits)
        {
            if (b is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            ulong d = (ulong)(b - '0');
            if (v > ulong.MaxValue / 10 || v * 10 > ulong.MaxValue - d)
            {
                return false;
            }

            v = v * 10 + d;
        }

        if (negative)
        {
            if (v > (ulong)long.MaxValue + 1)
            {
                return false;
            }

            value = (long)(0 - v);
            return true;
        }

        if (v > long.MaxValue)
        {
            return false;
        }

        value = (long)v;
        return true;
    }
}
