using System.Net;
using System.Net.Sockets;
using Asyncore;

namespace Soak;

/// <summary>What the server did, counted on the loop's thread and read from the sampler's.</summary>
sealed class ServerCounters
{
    public long Accepted;
    public long Open;
    public long Answered;
    public long IdleClosed;
    public long PeerClosed;
    public long Errors;
    public string? FirstError;
}

/// <summary>Accepts and gives each connection an <see cref="EchoLine"/> with the idle timeout set.</summary>
sealed class LineListener : Dispatcher
{
    private readonly ServerCounters _counters;
    private readonly TimeSpan _idleTimeout;

    public LineListener(IPEndPoint address, SocketMap map, ServerCounters counters, TimeSpan idleTimeout) : base(null, map)
    {
        _counters = counters;
        _idleTimeout = idleTimeout;
        CreateSocket();
        SetReuseAddr();
        Bind(address);
        Listen(4096);
    }

    public int Port => ((IPEndPoint)Socket!.LocalEndPoint!).Port;

    protected override void HandleAccepted(Socket socket, EndPoint address)
    {
        Interlocked.Increment(ref _counters.Accepted);
        _ = new EchoLine(socket, Map, _counters, _idleTimeout);
    }
}

/// <summary>
/// The line protocol: each "\r\n"-terminated line (at most 1 KiB) is answered "echo: line\r\n".
/// The client closes; a connection silent for the idle timeout is closed by the server.
/// </summary>
sealed class EchoLine : AsyncChat
{
    private const int MaxLine = 1024;
    private readonly ServerCounters _counters;
    private readonly byte[] _line = new byte[MaxLine];
    private int _length;
    private bool _counted;

    public EchoLine(Socket socket, SocketMap map, ServerCounters counters, TimeSpan idleTimeout) : base(socket, map)
    {
        _counters = counters;
        Interlocked.Increment(ref _counters.Open);
        SetTerminator("\r\n"u8);
        MaxMessageSize = MaxLine;
        OverflowPolicy = OverflowPolicy.Close;
        IdleTimeout = idleTimeout;
    }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        int n = Math.Min(data.Length, MaxLine - _length);
        data[..n].CopyTo(_line.AsSpan(_length));
        _length += n;
    }

    protected override void FoundTerminator()
    {
        Push("echo: "u8);
        Push(_line.AsSpan(0, _length));
        Push("\r\n"u8);
        _length = 0;
        Interlocked.Increment(ref _counters.Answered);
    }

    protected override void HandleIdle()
    {
        Interlocked.Increment(ref _counters.IdleClosed);
        Close(); // the default logs a line per reaped connection first
    }

    protected override void HandleClose()
    {
        Interlocked.Increment(ref _counters.PeerClosed);
        base.HandleClose();
    }

    protected override void HandleError(Exception exception)
    {
        if (Interlocked.Increment(ref _counters.Errors) == 1)
        {
            _counters.FirstError = exception.GetType().Name + ": " + exception.Message;
        }

        Close();
    }

    public override void Close()
    {
        if (!_counted)
        {
            _counted = true;
            Interlocked.Decrement(ref _counters.Open);
        }

        base.Close();
    }
}
