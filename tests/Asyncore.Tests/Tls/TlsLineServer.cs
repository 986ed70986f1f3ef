using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Tls;

/// <summary>
/// A line server over TLS on a loop thread: each CRLF-terminated line comes back upper-cased (ASCII),
/// "QUIT" closes when done, "BIG n" answers n bytes of a repeating pattern then CRLF. Every callback
/// and every step of the engine's transport records the thread it ran on. With <c>startTls</c> false
/// the connection starts in the clear and "STARTTLS" answers "GO" and switches.
/// </summary>
internal sealed class TlsLineServer : IDisposable
{
    private readonly LoopThread _loop;

    public TlsLineServer(SslServerAuthenticationOptions options, PollerKind kind = PollerKind.Default, TimeSpan? handshakeTimeout = null, int inBufferSize = AsyncChat.DefaultBufferSize, bool startTls = true, int? sendBufferSize = null)
    {
        StartAtOnce = startTls;
        SendBufferSize = sendBufferSize;
        _loop = new LoopThread(map =>
        {
            LoopThreadId = Environment.CurrentManagedThreadId;
            var listener = new Listener(this, options, handshakeTimeout, inBufferSize, map);
            Address = (IPEndPoint)listener.Socket!.LocalEndPoint!;
        }, kind);
    }

    public IPEndPoint Address { get; private set; } = null!;

    public int LoopThreadId { get; private set; }

    /// <summary>(step, thread id) for every callback and every transport step, in order.</summary>
    public ConcurrentQueue<(string Step, int Thread)> Steps { get; } = new();

    public ConcurrentQueue<string> Events { get; } = new();

    public ConcurrentQueue<string> Lines { get; } = new();

    public int Accepted;

    public LoopThread Loop => _loop;

    public bool StartAtOnce { get; }

    /// <summary>SO_SNDBUF for accepted sockets (small, so that encrypted records wait behind a full socket), or the system's.</summary>
    public int? SendBufferSize { get; }

    public void Dispose() => _loop.Dispose();

    internal void Record(string step) => Steps.Enqueue((step, Environment.CurrentManagedThreadId));

    private sealed class Listener : Dispatcher
    {
        private readonly TlsLineServer _server;
        private readonly SslServerAuthenticationOptions _options;
        private readonly TimeSpan? _timeout;
        private readonly int _inBufferSize;

        public Listener(TlsLineServer server, SslServerAuthenticationOptions options, TimeSpan? timeout, int inBufferSize, SocketMap map) : base(null, map)
        {
            _server = server;
            _options = options;
            _timeout = timeout;
            _inBufferSize = inBufferSize;
            CreateSocket();
            SetReuseAddr();
            Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Listen(64);
        }

        public override bool Writable() => false;

        protected override void HandleAccepted(Socket socket, EndPoint address)
        {
            _server.Record("accepted");
            Interlocked.Increment(ref _server.Accepted);
            if (_server.SendBufferSize is { } size)
            {
                socket.SendBufferSize = size;
            }

            var channel = new Channel(_server, socket, Map) { AcInBufferSize = _inBufferSize };
            if (_timeout is { } t)
            {
                channel.TlsHandshakeTimeout = t;
            }

            channel.Options = _options;
            if (_server.StartAtOnce)
            {
                channel.Switch();
            }
        }
    }

    private sealed class Channel : AsyncChat
    {
        private readonly TlsLineServer _server;
        private readonly MemoryStream _line = new();

        public SslServerAuthenticationOptions Options { get; set; } = null!;

        public void Switch()
        {
            StartTls(Options, sendQueuedInClear: true); // the reply above goes out in the clear, as STARTTLS says
            var engine = TlsEngine is ObservedEngine observed ? observed.Inner : TlsEngine;
            if (engine is global::Asyncore.Tls.SslStreamEngine sslStream)
            {
                sslStream.Observer = step => _server.Record("transport " + step);
            }
        }

        public Channel(TlsLineServer server, Socket socket, SocketMap map) : base(socket, map)
        {
            _server = server;
            SetTerminator("\r\n"u8);
        }

        protected override void HandleTlsHandshakeComplete()
        {
            _server.Record("handshake complete");
            _server.Events.Enqueue($"established {TlsProtocol} {TlsCipherSuite} alpn={TlsApplicationProtocol} sni={TlsServerName}");
        }

        protected override void HandleTlsHandshakeFailed(Exception error)
        {
            _server.Record("handshake failed");
            _server.Events.Enqueue($"failed {error.GetType().Name}: {error.Message}");
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
            _server.Record("collect");
            _line.Write(data);
        }

        protected override void FoundTerminator()
        {
            _server.Record("found terminator");
            string line = Encoding.Latin1.GetString(_line.GetBuffer(), 0, (int)_line.Length);
            _line.SetLength(0);
            _server.Lines.Enqueue(line);
            if (line == "STARTTLS" && !IsTls)
            {
                Push("GO\r\n"u8);
                Switch();
            }
            else if (line == "QUIT")
            {
                Push("BYE\r\n"u8);
                CloseWhenDone();
            }
            else if (line.StartsWith("BIG ", StringComparison.Ordinal))
            {
                int n = int.Parse(line.AsSpan(4));
                byte[] big = new byte[n];
                for (int i = 0; i < n; i++)
                {
                    big[i] = (byte)('a' + (i % 26));
                }

                Push(big);
                Push("\r\n"u8);
            }
            else
            {
                Push(Encoding.Latin1.GetBytes(line.ToUpperInvariant() + "\r\n"));
            }
        }

        protected internal override void HandleError(Exception exception)
        {
            _server.Events.Enqueue($"error {exception.GetType().Name}: {exception.Message}");
            base.HandleError(exception);
        }

        protected internal override void HandleClose()
        {
            _server.Record("close");
            _server.Events.Enqueue("closed");
            Close();
        }
    }
}
