using System.Net;
using System.Net.Sockets;
using Asyncore;

namespace Asyncore.Samples.Echo;

/// <summary>A listening channel that makes an <see cref="EchoHandler"/> per connection (asyncore only, no asynchat).</summary>
public sealed class EchoServer : Dispatcher
{
    public EchoServer(EndPoint address, SocketMap? map = null) : base(null, map)
    {
        CreateSocket(address.AddressFamily);
        SetReuseAddr();
        Bind(address);
        Listen(512);
    }

    /// <summary>The bound address (with the port the OS chose for port 0).</summary>
    public EndPoint Address => Socket!.LocalEndPoint!;

    /// <summary>Connections accepted so far.</summary>
    public int Accepted { get; private set; }

    protected override void HandleAccepted(Socket socket, EndPoint address)
    {
        Accepted++;
        _ = new EchoHandler(socket, Map);
    }
}

/// <summary>
/// Echoes every byte back: reads into a reused buffer, queues with DispatcherWithSend. A client that
/// sends without reading its echo is paused, as AsyncChat's HighWaterMark does: no reading while
/// more than <see cref="HighWaterMark"/> bytes wait to be sent, so it costs at most that much plus
/// one read; past <see cref="OutputHardLimit"/> it is disconnected.
/// </summary>
public sealed class EchoHandler : DispatcherWithSend
{
    /// <summary>Reading pauses while more than this many bytes wait to be sent back.</summary>
    public const int HighWaterMark = 256 * 1024;

    /// <summary>Unsent bytes past which the client is disconnected (reached only if reading did not pause).</summary>
    public const int OutputHardLimit = 4 * 1024 * 1024;

    private readonly byte[] _buffer = new byte[8192];

    public EchoHandler(Socket socket, SocketMap map) : base(socket, map)
    {
    }

    public override bool Readable() => OutBuffer.Length <= HighWaterMark;

    protected override void HandleRead()
    {
        int n = Recv(_buffer);
        if (n > 0)
        {
            Send(_buffer.AsSpan(0, n));
            if (OutBuffer.Length > OutputHardLimit)
            {
                LogInfo($"slow consumer: {OutBuffer.Length} bytes unsent; closing", "error");
                Close();
            }
        }
    }

    protected override void HandleClose() => Close();
}

/// <summary>
/// Connects, sends a payload, reads until the same number of bytes came back, then closes.
/// Built on Dispatcher alone: it keeps its own send offset and receive buffer.
/// </summary>
public sealed class EchoClient : Dispatcher
{
    private readonly byte[] _payload;
    private readonly byte[] _received;
    private readonly byte[] _buffer = new byte[8192];
    private int _sent;
    private int _got;

    public EchoClient(EndPoint server, byte[] payload, SocketMap? map = null) : base(null, map)
    {
        _payload = payload;
        _received = new byte[payload.Length];
        CreateSocket(server.AddressFamily);
        Connect(server);
    }

    /// <summary>Whether every byte came back, identical.</summary>
    public bool Done => _got == _payload.Length && _received.AsSpan().SequenceEqual(_payload);

    /// <summary>Bytes received so far.</summary>
    public int Received => _got;

    public override bool Writable() => !Connected || _sent < _payload.Length;

    protected override void HandleConnect()
    {
    }

    protected override void HandleWrite() => _sent += Send(_payload.AsSpan(_sent));

    protected override void HandleRead()
    {
        int n = Recv(_buffer);
        if (n <= 0)
        {
            return;
        }

        n = Math.Min(n, _received.Length - _got);
        _buffer.AsSpan(0, n).CopyTo(_received.AsSpan(_got));
        _got += n;
        if (_got == _payload.Length)
        {
            Close();
        }
    }

    protected override void HandleClose() => Close();
}
