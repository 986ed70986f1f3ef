using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore;

namespace Asyncore.Samples.Ping;

/// <summary>Listens and makes a <see cref="RespHandler"/> per connection.</summary>
public sealed class PingServer : Dispatcher
{
    public PingServer(EndPoint address, SocketMap? map = null) : base(null, map)
    {
        CreateSocket(address.AddressFamily);
        SetReuseAddr();
        Bind(address);
        Listen(1024);
    }

    public EndPoint Address => Socket!.LocalEndPoint!;

    protected override void HandleAccepted(Socket socket, EndPoint address)
    {
        socket.NoDelay = true;
        _ = new RespHandler(socket, Map);
    }
}

/// <summary>
/// The RESP PING that redis-benchmark sends, framed by switching terminators: an inline command is
/// one "\r\n" line; a multibulk command is a "*N" line, then for each argument a "$len" line and a
/// count terminator of len + 2 bytes (the argument and its CRLF). PING answers +PONG (or echoes its
/// argument); any other command gets a RESP error; a protocol error is answered and the connection closed.
/// </summary>
public sealed class RespHandler : AsyncChat
{
    private static readonly Terminator Line = Terminator.FromBytes("\r\n"u8);
    private static readonly byte[] Pong = "+PONG\r\n"u8.ToArray();
    private const int MaxArgument = 512 * 1024;

    private readonly byte[] _command = new byte[16]; // the first argument, upper-cased, up to 16 bytes
    private byte[] _arg = new byte[64];              // the second argument (PING's message)
    private int _commandLength;
    private int _argLength;
    private int _argsLeft;    // bulk arguments still to read in this multibulk command
    private int _argIndex;    // which argument is being read
    private int _argCount;
    private bool _inBulk;     // reading an argument's bytes (a count terminator) rather than a line
    private readonly byte[] _line = new byte[64];
    private int _lineLength;
    private bool _lineTooLong;

    public RespHandler(Socket socket, SocketMap map) : base(socket, map)
    {
        SetTerminator(Line);
        MaxMessageSize = MaxArgument + 2;
    }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        if (_inBulk)
        {
            // Keep the start of the first two arguments; the rest of a bulk is only counted.
            if (_argIndex == 0)
            {
                Append(_command, ref _commandLength, data);
            }
            else if (_argIndex == 1)
            {
                if (_arg.Length < Math.Min(MaxArgument + 2, _argLength + data.Length))
                {
                    Array.Resize(ref _arg, Math.Min(MaxArgument + 2, Math.Max(_arg.Length * 2, _argLength + data.Length)));
                }

                Append(_arg, ref _argLength, data);
            }

            return;
        }

        if (_lineLength + data.Length > _line.Length)
        {
            _lineTooLong = true; // an inline command with more than 64 bytes: only its start matters
        }

        Append(_line, ref _lineLength, data);
    }

    private static void Append(byte[] into, ref int length, ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, into.Length - length);
        data[..n].CopyTo(into.AsSpan(length));
        length += n;
    }

    protected override void FoundTerminator()
    {
        if (_inBulk)
        {
            // An argument and its CRLF arrived: drop the CRLF from what was kept.
            if (_argIndex == 0)
            {
                _commandLength = Math.Max(0, Math.Min(_commandLength, _bulkLength));
            }
            else if (_argIndex == 1)
            {
                _argLength = Math.Max(0, Math.Min(_argLength, _bulkLength));
            }

            _inBulk = false;
            _argIndex++;
            SetTerminator(Line);
            if (--_argsLeft == 0)
            {
                Execute(_argCount);
            }

            return;
        }

        ReadOnlySpan<byte> line = _line.AsSpan(0, _lineLength);
        _lineLength = 0;
        bool tooLong = _lineTooLong;
        _lineTooLong = false;
        if (_argsLeft > 0)
        {
            // Expecting "$len".
            if (line.IsEmpty || line[0] != (byte)'$' || !Utf8Parser.TryParse(line[1..], out int len, out int used) || used != line.Length - 1 || len < 0 || len > MaxArgument)
            {
                ProtocolError("expected '$', got something else");
                return;
            }

            _bulkLength = len;
            _inBulk = true;
            SetTerminator(len + 2);
            return;
        }

        if (!line.IsEmpty && line[0] == (byte)'*')
        {
            if (!Utf8Parser.TryParse(line[1..], out int n, out int used) || used != line.Length - 1 || n > 1024 * 1024)
            {
                ProtocolError("invalid multibulk length");
                return;
            }

            if (n <= 0)
            {
                return; // an empty command: nothing to answer
            }

            _argCount = _argsLeft = n;
            _argIndex = 0;
            _commandLength = _argLength = 0;
            return;
        }

        // Inline command: arguments separated by spaces.
        if (tooLong && line.IndexOf((byte)' ') < 0)
        {
            Error("ERR inline command too long"u8);
            return;
        }

        line = line.Trim((byte)' ');
        if (line.IsEmpty)
        {
            return;
        }

        int space = line.IndexOf((byte)' ');
        _commandLength = 0;
        _argLength = 0;
        Append(_command, ref _commandLength, space < 0 ? line : line[..space]);
        int count = 1;
        if (space >= 0)
        {
            ReadOnlySpan<byte> rest = line[(space + 1)..].Trim((byte)' ');
            Append(_arg, ref _argLength, rest.IndexOf((byte)' ') is int sp and >= 0 ? rest[..sp] : rest);
            count = 2 + rest.Count((byte)' ');
        }

        Execute(count);
    }

    private int _bulkLength;

    private void Execute(int argc)
    {
        Span<byte> name = _command.AsSpan(0, _commandLength);
        if (Ascii.EqualsIgnoreCase(name, "PING"u8))
        {
            if (argc == 1)
            {
                Push(Pong);
            }
            else if (argc == 2)
            {
                Bulk(_arg.AsSpan(0, _argLength));
            }
            else
            {
                Error("ERR wrong number of arguments for 'ping' command"u8);
            }

            return;
        }

        Span<byte> reply = stackalloc byte[80];
        int w = Encoding.ASCII.GetBytes("-ERR unknown command '", reply);
        int take = Math.Min(name.Length, 16);
        foreach (byte b in name[..take])
        {
            reply[w++] = b is >= 0x20 and < 0x7f ? b : (byte)'?';
        }

        w += Encoding.ASCII.GetBytes("'\r\n", reply[w..]);
        Push(reply[..w]);
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

    private void Error(ReadOnlySpan<byte> message)
    {
        Push("-"u8);
        Push(message);
        Push("\r\n"u8);
    }

    private void ProtocolError(string what)
    {
        Push(Encoding.ASCII.GetBytes($"-ERR Protocol error: {what}\r\n"));
        SetTerminator(null);
        CloseWhenDone();
    }

    protected override void HandleOverflow(long droppedBytes) =>
        Push("-ERR Protocol error: too big\r\n"u8); // then the Close policy closes once it is sent
}
