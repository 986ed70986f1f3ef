using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Asyncore;
using Asyncore.Samples;

// Bulk transfer through AsyncChat, for the benchmarks (docs/benchmarks.md):
//   Bulk recv PORT BYTES [CHUNK [BACKEND]]  each connection: read exactly BYTES with an integer terminator, answer OK
//   Bulk send PORT BYTES [CHUNK [BACKEND]]  send BYTES from a producer of CHUNK-byte blocks, wait for OK, print seconds
// CHUNK (default 4096, the documented buffer size) is AcInBufferSize / AcOutBufferSize; BACKEND is
// default, epoll, poll, select or io_uring. A mistake in the arguments is one line on standard error
// and exit code 2, as the other samples' command-line mistakes are.
const string Usage = "usage: Bulk recv|send PORT BYTES [CHUNK [default|epoll|poll|select|io_uring]]";
if (args.Length is < 3 or > 5 || args[0] is not ("recv" or "send"))
{
    return SampleHost.SayBadCommandLine(Usage);
}

if (!int.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > IPEndPoint.MaxPort)
{
    return SampleHost.SayBadCommandLine($"PORT: not a port (0 to {IPEndPoint.MaxPort}): '{args[1]}' ({Usage})");
}

if (!long.TryParse(args[2], NumberStyles.None, CultureInfo.InvariantCulture, out long bytes))
{
    return SampleHost.SayBadCommandLine($"BYTES: not a whole number of bytes: '{args[2]}' ({Usage})");
}

int chunk = AsyncChat.DefaultBufferSize;
if (args.Length > 3 && (!int.TryParse(args[3], NumberStyles.None, CultureInfo.InvariantCulture, out chunk) || chunk < 1))
{
    return SampleHost.SayBadCommandLine($"CHUNK: not a block size of 1 byte or more: '{args[3]}' ({Usage})");
}

PollerKind backend = PollerKind.Default;
if (args.Length > 4 && (!args[4].All(c => char.IsAsciiLetter(c) || c == '_')
    || !Enum.TryParse(args[4].Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out backend)))
{
    return SampleHost.SayBadCommandLine($"BACKEND: not a backend: '{args[4]}' (default, epoll, poll, select, io_uring)");
}

var at = new IPEndPoint(IPAddress.Loopback, port);
if (args[0] == "recv")
{
    if (SampleHost.Listen(at, a => new BulkListener(a, bytes, chunk)) is null)
    {
        return SampleHost.CannotListen;
    }

    EventLoop.Loop(backend, timeout: 1.0);
    return 0;
}

var sender = new BulkSender(at, bytes, chunk);
try
{
    EventLoop.Loop(backend, timeout: 1.0);
}
catch (ExitNowException)
{
}

Console.WriteLine(sender.Seconds.ToString("F6", CultureInfo.InvariantCulture));
return sender.Seconds > 0 ? 0 : 1;

sealed class BulkListener : Dispatcher
{
    private readonly long _bytes;
    private readonly int _chunk;

    public BulkListener(EndPoint at, long bytes, int chunk) : base()
    {
        _bytes = bytes;
        _chunk = chunk;
        CreateSocket();
        SetReuseAddr();
        Bind(at);
        Listen(16);
    }

    protected override void HandleAccepted(Socket socket, EndPoint address) => _ = new BulkReceiver(socket, _bytes, _chunk);
}

/// <summary>Counts BYTES with an integer terminator; CollectIncomingData only sees spans over the receive buffer.</summary>
sealed class BulkReceiver : AsyncChat
{
    public BulkReceiver(Socket socket, long bytes, int chunk) : base(socket)
    {
        AcInBufferSize = chunk;
        HighWaterMark = 64 * 1024; // it answers only "OK", but a sender that never reads stays bounded all the same
        OutputHardLimit = 1024 * 1024;
        SetTerminator(bytes);
    }

    public long Received { get; private set; }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data) => Received += data.Length;

    protected override void FoundTerminator()
    {
        Push("OK\r\n"u8);
        SetTerminator(null);
    }
}

/// <summary>Sends BYTES from a producer that hands out one reused CHUNK-byte block at a time.</summary>
sealed class BulkSender : AsyncChat
{
    private readonly long _start;

    public BulkSender(EndPoint at, long bytes, int chunk) : base()
    {
        AcOutBufferSize = chunk;
        CreateSocket();
        _start = Stopwatch.GetTimestamp();
        Connect(at);
        SetTerminator("\r\n"u8);
        PushWithProducer(new Blocks(bytes, chunk));
    }

    public double Seconds { get; private set; }

    protected override void HandleConnect()
    {
    }

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
    }

    protected override void FoundTerminator()
    {
        Seconds = Stopwatch.GetElapsedTime(_start).TotalSeconds;
        throw new ExitNowException();
    }

    private sealed class Blocks(long total, int size) : IProducer
    {
        private readonly byte[] _block = new byte[size];
        private long _left = total;

        public ReadOnlyMemory<byte> More()
        {
            int n = (int)Math.Min(_left, _block.Length);
            _left -= n;
            return _block.AsMemory(0, n);
        }
    }
}
