using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore;

namespace Asyncore.Samples.Line;

/// <summary>Listens and makes a <see cref="LineHandler"/> per connection.</summary>
public sealed class LineServer : Dispatcher
{
    public LineServer(EndPoint address, SocketMap? map = null) : base(null, map)
    {
        CreateSocket(address.AddressFamily);
        SetReuseAddr();
        Bind(address);
        Listen(512);
    }

    public EndPoint Address => Socket!.LocalEndPoint!;

    /// <summary>Reading from a client pauses while more than this many bytes of answers wait to be sent; null never pauses.</summary>
    public long? HighWaterMark { get; init; } = LineHandler.DefaultHighWaterMark;

    /// <summary>A client whose unsent answers pass this many bytes is disconnected; null: no limit.</summary>
    public long? OutputHardLimit { get; init; } = LineHandler.DefaultOutputHardLimit;

    protected override void HandleAccepted(Socket socket, EndPoint address) =>
        _ = new LineHandler(socket, Map) { HighWaterMark = HighWaterMark, OutputHardLimit = OutputHardLimit };
}

/// <summary>
/// A line protocol: every line is answered "echo: line\r\n"; QUIT is answered "bye" and the
/// connection closes once that was sent. A line ends at "\r\n" or at a lone "\n", as in SMTP
/// servers, Redis and most line protocols that accept what telnet, nc and printf send.
/// </summary>
public sealed class LineHandler : AsyncChat
{
    /// <summary>The longest line (without its line end); a longer one is answered "ERR line too long".</summary>
    public const int MaxLine = 64 * 1024;

    /// <summary>Reading pauses while more than this many bytes of answers wait to be sent.</summary>
    public const long DefaultHighWaterMark = 256 * 1024;

    /// <summary>A client whose unsent answers pass this many bytes is disconnected.</summary>
    public const long DefaultOutputHardLimit = 4L * 1024 * 1024;

    private const int SmallBuffer = 256;
    private static readonly byte[] Echo = "echo: "u8.ToArray();

    // The answer is built in place: "echo: ", the line as it arrives, then "\r\n", pushed at once.
    private byte[] _buffer = new byte[SmallBuffer];
    private int _length;
    private bool _quit; // QUIT was answered: the rest of the input is ignored

    public LineHandler(Socket socket, SocketMap map) : base(socket, map)
    {
        SetTerminator("\n"u8);
        MaxMessageSize = MaxLine + 1; // the line and the "\r" of its "\r\n"
        OverflowPolicy = OverflowPolicy.Discard;
        HighWaterMark = DefaultHighWaterMark; // reading resumes at half of it
        OutputHardLimit = DefaultOutputHardLimit;
        Echo.CopyTo(_buffer, 0);
        _length = Echo.Length;
    }

    /// <summary>A line over <see cref="MaxLine"/> bytes: answered, and the next line is read as usual.</summary>
    protected override void HandleOverflow(long droppedBytes)
    {
        if (_quit)
        {
            return;
        }

        Restart();
        Push("ERR line too long\r\n"u8);
    }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        if (_quit)
        {
            return;
        }

        if (_length + data.Length + 2 > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + data.Length + 2));
        }

        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
    }

    protected override void FoundTerminator()
    {
        if (_quit)
        {
            return;
        }

        if (_length > Echo.Length && _buffer[_length - 1] == (byte)'\r')
        {
            _length--; // "\r\n": the "\r" belongs to the line end
        }

        Span<byte> line = _buffer.AsSpan(Echo.Length, _length - Echo.Length);
        if (line.Length > MaxLine)
        {
            HandleOverflow(line.Length - MaxLine); // MaxMessageSize let its "\r" through, but no "\r" came
            return;
        }

        if (line.SequenceEqual("QUIT"u8))
        {
            Push("bye\r\n"u8);
            CloseWhenDone();
            _quit = true;
        }
        else
        {
            _buffer[_length++] = (byte)'\r';
            _buffer[_length++] = (byte)'\n';
            Push(_buffer.AsSpan(0, _length)); // one queue entry per answer
        }

        Restart();
    }

    /// <summary>Ready for the next line; a buffer that grew for a long line is given back.</summary>
    private void Restart()
    {
        if (_buffer.Length > SmallBuffer * 4)
        {
            _buffer = new byte[SmallBuffer];
            Echo.CopyTo(_buffer, 0);
        }

        _length = Echo.Length;
    }
}

/// <summary>Sends its lines, then QUIT, and collects every answer until the server closes.</summary>
public sealed class LineClient : AsyncChat
{
    private readonly List<byte> _line = new();

    public LineClient(EndPoint server, IEnumerable<string> lines, SocketMap? map = null) : base(null, map)
    {
        CreateSocket(server.AddressFamily);
        Connect(server);
        SetTerminator("\r\n"u8);
        foreach (string line in lines)
        {
            Push(Encoding.UTF8.GetBytes(line + "\r\n"));
        }

        Push("QUIT\r\n"u8);
    }

    public List<string> Answers { get; } = new();

    public bool Closed { get; private set; }

    protected override void HandleConnect()
    {
    }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data) => _line.AddRange(data);

    protected override void FoundTerminator()
    {
        Answers.Add(Encoding.UTF8.GetString(_line.ToArray()));
        _line.Clear();
    }

    protected override void HandleClose()
    {
        Closed = true;
        Close();
    }
}
