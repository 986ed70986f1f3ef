namespace Asyncore;

/// <summary>
/// A dispatcher whose <see cref="Send"/> buffers: what the socket does not take now is kept and
/// sent when it turns writable, 64 KiB per write.
/// </summary>
/// <remarks>Python: asyncore.dispatcher_with_send</remarks>
public class DispatcherWithSend : Dispatcher
{
    private const int MaxWrite = 65536;
    private byte[] _out = [];
    private int _start;
    private int _end;

    /// <summary>Creates the channel (see <see cref="Dispatcher(System.Net.Sockets.Socket?, SocketMap?)"/>).</summary>
    /// <param name="socket">A socket, or null.</param>
    /// <param name="map">The map to join; <see cref="SocketMap.Default"/> when null.</param>
    /// <remarks>Python: dispatcher_with_send.__init__(sock=None, map=None)</remarks>
    public DispatcherWithSend(System.Net.Sockets.Socket? socket = null, SocketMap? map = null) : base(socket, map)
    {
    }

    /// <summary>The bytes queued and not yet sent.</summary>
    /// <remarks>Python: dispatcher_with_send.out_buffer</remarks>
    public ReadOnlySpan<byte> OutBuffer => _out.AsSpan(_start, _end - _start);

    /// <summary>Sends as much of the queue as the socket takes now (at most 64 KiB).</summary>
    /// <remarks>Python: dispatcher_with_send.initiate_send()</remarks>
    protected void InitiateSend()
    {
        int n = base.Send(_out.AsSpan(_start, Math.Min(_end - _start, MaxWrite)));
        _start += n;
        if (_start == _end)
        {
            _start = _end = 0;
        }
    }

    /// <summary>Sends the queue.</summary>
    /// <remarks>Python: dispatcher_with_send.handle_write()</remarks>
    protected override void HandleWrite() => InitiateSend();

    /// <summary>True while not connected or while bytes are queued.</summary>
    /// <returns>Whether to watch for writing.</returns>
    /// <remarks>Python: dispatcher_with_send.writable()</remarks>
    public override bool Writable() => !Connected || TlsWritable(_end > _start);

    /// <summary>Idle for a drain while nothing is left to send.</summary>
    public override bool IsIdle => _end == _start;

    /// <summary>Queues <paramref name="data"/> and sends what the socket takes now.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The number of bytes queued (all of them).</returns>
    /// <remarks>Python: dispatcher_with_send.send(data)</remarks>
    public override int Send(ReadOnlySpan<byte> data)
    {
        if (Debug)
        {
            LogInfo($"sending {Convert.ToHexString(data)}");
        }

        int len = _end - _start;
        if (_out.Length - _end < data.Length)
        {
            if (_out.Length - len >= data.Length)
            {
                _out.AsSpan(_start, len).CopyTo(_out);
            }
            else
            {
                byte[] bigger = new byte[Math.Max(len + data.Length, _out.Length * 2)];
                _out.AsSpan(_start, len).CopyTo(bigger);
                _out = bigger;
            }

            _start = 0;
            _end = len;
        }

        data.CopyTo(_out.AsSpan(_end));
        _end += data.Length;
        InitiateSend();
        return data.Length;
    }
}
