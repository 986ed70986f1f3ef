using System.Net;
using System.Net.Sockets;

namespace Asyncore.Tests.Robustness;

/// <summary>A listening channel that hands each accepted socket to a factory, and blocking client sockets to poke it with.</summary>
internal sealed class Acceptor : Dispatcher
{
    private readonly Func<Socket, SocketMap, Dispatcher> _make;

    public Acceptor(SocketMap map, Func<Socket, SocketMap, Dispatcher> make) : base(null, map)
    {
        _make = make;
        CreateSocket();
        Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Listen(1024);
    }

    public EndPoint Address => Socket!.LocalEndPoint!;

    public List<Dispatcher> Channels { get; } = new();

    protected override void HandleAccepted(Socket socket, EndPoint address) => Channels.Add(_make(socket, Map));

    public static Socket Connect(EndPoint at, int receiveBuffer = 0)
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20_000 };
        if (receiveBuffer > 0)
        {
            s.ReceiveBufferSize = receiveBuffer;
        }

        s.Connect(at);
        return s;
    }
}

/// <summary>An AsyncChat that records everything the library tells it.</summary>
internal class RecordingChat : AsyncChat
{
    public RecordingChat(Socket s, SocketMap m, string terminator = "\n") : base(s, m) => SetTerminator(terminator);

    public List<string> Messages { get; } = new();

    public List<string> Events { get; } = new();

    public int CloseCalls { get; private set; }

    public System.Text.StringBuilder Current { get; } = new();

    public bool AfterClose { get; private set; }

    public long CollectedBytes { get; private set; }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        AfterClose |= Fileno < 0;
        CollectedBytes += data.Length;
        Current.Append(System.Text.Encoding.Latin1.GetString(data));
    }

    protected override void FoundTerminator()
    {
        AfterClose |= Fileno < 0;
        Messages.Add(Current.ToString());
        Current.Clear();
        OnMessage(Messages[^1]);
    }

    protected virtual void OnMessage(string message)
    {
    }

    protected internal override void HandleClose()
    {
        AfterClose |= Fileno < 0;
        CloseCalls++;
        Events.Add("close");
        base.HandleClose();
    }

    protected override void HandleOverflow(long droppedBytes)
    {
        Events.Add($"overflow {droppedBytes}");
        Current.Clear();
        base.HandleOverflow(droppedBytes);
    }

    protected override void HandleIdle()
    {
        Events.Add("idle");
        base.HandleIdle();
    }

    protected override void HandleMessageTimeout()
    {
        Events.Add("message timeout");
        base.HandleMessageTimeout();
    }

    protected override void HandleBackpressure(bool readingPaused) => Events.Add(readingPaused ? "paused" : "resumed");

    protected internal override void HandleError(Exception exception)
    {
        Events.Add($"error {exception.GetType().Name}");
        base.HandleError(exception);
    }

    public override void LogInfo(string message, string type = "info") => Events.Add($"{type}: {message}");
}
