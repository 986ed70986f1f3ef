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

    protected override void HandleAccepted(Socket socket, EndPoint address) => _ = new LineHandler(socket, Map);
}

/// <summary>
/// A line protocol: every "\r\n"-terminated line is answered "echo: line"; QUIT is answered "bye"
/// and the connection closes once that was sent.
/// </summary>
public sealed class LineHandler : AsyncChat
{
    private static readonly byte[] Echo = "echo: "u8.ToArray();
    private static readonly byte[] CrLf = "\r\n"u8.ToArray();
    private readonly List<byte> _line = new();

    public LineHandler(Socket socket, SocketMap map) : base(socket, map)
    {
        SetTerminator(CrLf);
        MaxMessageSize = 64 * 1024;
        OverflowPolicy = OverflowPolicy.Discard;
        OutputHardLimit = 16L * 1024 * 1024; // a client that never reads its answers is dropped
    }

    /// <summary>A line over 64 KiB: answered, and the next line is read as usual.</summary>
    protected override void HandleOverflow(long droppedBytes)
    {
        _line.Clear();
        Push("ERR line too long\r\n"u8);
    }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data) => _line.AddRange(data);

    protected override void FoundTerminator()
    {
        if (_line.Count == 4 && Encoding.ASCII.GetString(_line.ToArray()) == "QUIT")
        {
            Push("bye\r\n"u8);
            CloseWhenDone();
        }
        else
        {
            Push(Echo);
            Push(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_line));
            Push(CrLf);
        }

        _line.Clear();
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
