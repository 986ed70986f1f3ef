namespace Asyncore.Tests.Support;

/// <summary>
/// An AsyncChat with no socket: Send takes at most what the script allows next (0 = would block),
/// Recv returns scripted chunks. Tokio framed_read.rs-style scripting of IO.
/// </summary>
internal sealed class ScriptedChannel : AsyncChat
{
    private readonly Queue<int> _sendAllowance = new();

    public ScriptedChannel(bool connected = true) : base(null, new SocketMap()) => Connected = connected;

    public MemoryStream Sent { get; } = new();

    public int SendCalls { get; private set; }

    public int CloseCalls { get; private set; }

    public Queue<byte[]> Incoming { get; } = new();

    public List<byte[]> Collected { get; } = new();

    public int Found { get; private set; }

    /// <summary>When the queue is empty, Send takes everything.</summary>
    public void Allow(params int[] sizes)
    {
        foreach (int s in sizes)
        {
            _sendAllowance.Enqueue(s);
        }
    }

    public void MarkConnected() => Connected = true;

    public override int Send(ReadOnlySpan<byte> data)
    {
        SendCalls++;
        int n = _sendAllowance.Count > 0 ? Math.Min(_sendAllowance.Dequeue(), data.Length) : data.Length;
        Sent.Write(data[..n]);
        return n;
    }

    public override int Recv(Span<byte> buffer)
    {
        if (Incoming.Count == 0)
        {
            return WouldBlock;
        }

        byte[] chunk = Incoming.Dequeue();
        chunk.CopyTo(buffer);
        return chunk.Length;
    }

    public void Write() => HandleWrite();

    public void Read() => HandleRead();

    public override void Close()
    {
        CloseCalls++;
        base.Close();
    }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data) => Collected.Add(data.ToArray());

    protected override void FoundTerminator() => Found++;
}
