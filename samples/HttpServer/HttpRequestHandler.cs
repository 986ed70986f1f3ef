using System.Net;
using System.Net.Sockets;
using Asyncore;
using Asyncore.Proxy;

namespace Asyncore.Samples.Http;

/// <summary>
/// One HTTP/1.1 connection, written the way the asynchat documentation's http_request_handler is:
/// the head is collected up to its terminator and parsed, a POST body is read with its
/// Content-Length as an integer terminator, and the request is answered once everything is
/// marshalled. The head's terminator is "\n", one line at a time, because a head may end its lines
/// with CRLF or a bare LF (RFC 9112 2.2) and no single byte string ends both; the lines go to a
/// <see cref="RequestHeadParser"/>. A chunked body switches terminators the same way: "\n" for a
/// chunk's size line, the size as a count for its data. Keep-alive and pipelining come for free:
/// a terminator set inside <see cref="FoundTerminator"/> applies to the bytes already received.
/// </summary>
public sealed partial class HttpRequestHandler : AsyncChat
{
    private static readonly Terminator LineEnd = Terminator.FromBytes("\n"u8);

    private EndPoint _addr;
    private string? _host; // _addr as the access log shows it, made at the first answer
    private readonly HttpServerOptions _options;
    private readonly RequestHeadParser _parser;
    private readonly FileResponder? _files;
    private readonly Action? _onRequestTimer;
    private Phase _phase = Phase.Head;
    private byte[] _body = [];
    private int _bodyLength;
    private int _lineLength;
    private bool _lineEndsInCr;
    private byte[]? _line;
    private int _trailerBytes;
    private long _requestStarted; // Environment.TickCount64 when the head or body in progress began; 0 between requests
    private LoopTimer? _requestTimer;
    private long _requestTimerDue; // Environment.TickCount64 when _requestTimer fires
    private bool _lastAnswer;  // the server drains and nothing more was received: this answer says Connection: close

    /// <summary>Where the connection is in the request.</summary>
    private enum Phase
    {
        Head,
        Body,
        ChunkSize,
        ChunkData,
        ChunkEnd,
        Trailer,

        /// <summary>A final answer is queued and the connection closes after it: input is ignored.</summary>
        Closing,
    }

    /// <summary>Serves one accepted connection.</summary>
    /// <param name="socket">The connected socket.</param>
    /// <param name="addr">The peer's address, for the access log.</param>
    /// <param name="options">The server's options.</param>
    /// <param name="map">The loop's map.</param>
    public HttpRequestHandler(Socket socket, EndPoint addr, HttpServerOptions options, SocketMap map)
        : this(socket, addr, options, map, options.Root is null ? null : new FileResponder(options.Root, options.FollowSymlinks, openFiles: 0)) // a responder of its own keeps no files open
    {
    }

    internal HttpRequestHandler(Socket socket, EndPoint addr, HttpServerOptions options, SocketMap map, FileResponder? files) : base(socket, map)
    {
        _addr = addr;
        _options = options;
        _files = files;
        _parser = new RequestHeadParser(options.MaxHeaderBytes);
        Writer = new ResponseWriter(this);
        AcOutBufferSize = FileRegion.BlockSize; // a file block goes out in one send, not sixteen
        SetTerminator(LineEnd);
        IdleTimeout = options.IdleTimeout;
        OutputHardLimit = options.OutputLimit;
        HighWaterMark = options.OutputHighWaterMark; // reading resumes at half of it
        if (options.RequestTimeout is not null || options.BodyReadTimeout is not null)
        {
            _onRequestTimer = OnRequestTimer;
        }

        if (options.ProxyProtocol)
        {
            RequireProxyHeader(options.RequestTimeout ?? TimeSpan.FromSeconds(10), options.ProxyFrom);
        }
    }

    /// <summary>The fields of the last urlencoded POST body, decoded, in order (the example's cgi_data).</summary>
    public List<KeyValuePair<string, string>>? CgiData { get; private set; }

    internal ResponseWriter Writer { get; }

    internal bool IsHead => _parser.Head.Method == Method.Head;

    /// <summary>Whether the connection stays open after this answer, and whether the answer must say so.</summary>
    internal Persistence Persistence => !_parser.Head.KeepAlive || _lastAnswer ? Persistence.Close
        : _parser.Head.Version == 10 ? Persistence.KeepAliveHttp10
        : Persistence.KeepAlive;

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        switch (_phase)
        {
            case Phase.Head:
                if (_parser.IsEmpty)
                {
                    StartClock();
                }

                if (_parser.Feed(data, out _) == HeadStatus.Error)
                {
                    Fail(_parser.Error.Status, _parser.Error.Detail);
                }

                break;
            case Phase.Body:
            case Phase.ChunkData:
                BodyRead();
                AppendBody(data);
                break;
            case Phase.ChunkSize:
            case Phase.ChunkEnd:
            case Phase.Trailer:
                BodyRead();
                AppendLine(data);
                break;
        }
    }

    protected override void FoundTerminator()
    {
        switch (_phase)
        {
            case Phase.Head:
                if (_parser.IsEmpty)
                {
                    StartClock();
                }

                HeadStatus status = _parser.Feed("\n"u8, out _);
                if (status == HeadStatus.Done)
                {
                    DecideLast(); // a POST decides again once its body is complete
                    OnHead();
                }
                else if (status == HeadStatus.Error)
                {
                    Fail(_parser.Error.Status, _parser.Error.Detail);
                }

                break;
            case Phase.Body:
                Complete();
                break;
            case Phase.ChunkSize:
                OnChunkSize();
                break;
            case Phase.ChunkData:
                _phase = Phase.ChunkEnd;
                StartLine();
                SetTerminator(LineEnd);
                break;
            case Phase.ChunkEnd:
                if (!LineIsEmpty)
                {
                    Fail(400, "chunk data longer than its size");
                    return;
                }

                _phase = Phase.ChunkSize;
                StartLine();
                break;
            case Phase.Trailer:
                if (LineIsEmpty)
                {
                    Complete();
                }
                else
                {
                    StartLine(); // trailer fields are read and dropped
                }

                break;
        }
    }

    /// <summary>A POST body is complete: answer it.</summary>
    private void Complete()
    {
        DecideLast();
        OnBody();
    }

    /// <summary>
    /// A request is complete and about to be answered. While the server drains, its answer is the
    /// last one (it says <c>Connection: close</c> and the connection closes after it) unless another
    /// request was received behind it; those are answered in turn, the last of them with the close.
    /// Pipelined requests are framed one at a time (<see cref="Next"/> holds input until the answer
    /// before them is sent), so an answer is made only once the one before it is gone: one that was
    /// made before the drain began is never followed by another that still says keep-alive.
    /// </summary>
    private void DecideLast()
    {
        if (Draining)
        {
            _lastAnswer = !UnframedInput;
        }
    }

    /// <summary>The first bytes of an HTTPS port are checked for a TLS hello; after the client's end of stream only held answers are left to send.</summary>
    protected override void HandleRead()
    {
        if (_peerEnded && Holding)
        {
            return; // nothing more can come: only the held answers are left to send
        }

        if (_awaitingHello is { } tls && !PeekFirstByte(tls))
        {
            return;
        }

        base.HandleRead();
    }

    /// <summary>Between requests, with every answer sent: a draining server closes the connection now.</summary>
    public override bool IsIdle => base.IsIdle && _phase == Phase.Head && _parser.IsEmpty && !Holding;

    /// <summary>Behind a load balancer: the access log shows the client the PROXY header names.</summary>
    protected override void HandleProxyHeader(ProxyHeader header)
    {
        _addr = Addr ?? _addr;
        _host = null;
    }

    /// <summary>A connection refused for its PROXY header (invalid, late, or from outside --proxy-from) leaves one line, as a failed TLS handshake does.</summary>
    protected override void HandleProxyHeaderFailed(string reason) =>
        LogInfo($"{(Socket?.RemoteEndPoint is IPEndPoint peer ? peer.ToString() : "-")}: PROXY header refused: {reason}", "info");

    /// <summary>The head is complete: refuse it, answer it, or go on to read its body.</summary>
    private void OnHead()
    {
        ref readonly RequestHead h = ref _parser.Head;
        if (h.Method == Method.Other)
        {
            Fail(405, "this server answers GET, HEAD and POST", allow: "GET, HEAD, POST");
            return;
        }

        ReadOnlySpan<byte> path = TargetPath.PathOf(_parser[h.Target]);
        bool echo = path.SequenceEqual("/echo"u8);
        if (h.Method == Method.Post)
        {
            StartBody(echo);
            return;
        }

        if (h.ContentLength > 0 || h.Chunked)
        {
            Fail(400, "only POST may carry a body");
            return;
        }

        if (echo)
        {
            Fail(405, "/echo takes POST", allow: "POST");
            return;
        }

        if (_files is not null)
        {
            _files.Serve(this, _parser);
        }
        else if (path.SequenceEqual("/"u8) || path.SequenceEqual("/index.html"u8))
        {
            SendBuiltInPage();
        }
        else
        {
            ServeNoRoot(path);
        }

        Next();
    }

    /// <summary>Keep-alive: back to reading a head, and the bytes already received are read with it; or close.</summary>
    private void Next()
    {
        if (_phase == Phase.Closing)
        {
            return; // the answer was a Fail that closes
        }

        _requestStarted = 0;
        if (Persistence != Persistence.Close)
        {
            _phase = Phase.Head;
            _parser.Reset();
            SetTerminator(LineEnd);
            if (!Holding)
            {
                // nginx's order: a request pipelined behind this one is read once this answer is sent
                // (an answer made off the loop holds its place in this class's own queue instead).
                HoldInputUntilSent();
            }
        }
        else
        {
            _phase = Phase.Closing;
            SetTerminator(null);
            EmitCloseWhenDone();
        }
    }

    /// <summary>
    /// The time limit of the phase the request is in: its head must arrive within RequestTimeout of
    /// its first byte; while its body is read, each read must come within BodyReadTimeout of the one
    /// before (nginx's client_header_timeout and client_body_timeout), so a slow but steady upload is
    /// never cut.
    /// </summary>
    private TimeSpan? PhaseTimeout => _phase == Phase.Head ? _options.RequestTimeout : _options.BodyReadTimeout;

    /// <summary>A request's head (or body) begins now: its clock starts, and its timer is armed for the phase's limit.</summary>
    private void StartClock()
    {
        if (_onRequestTimer is null)
        {
            return;
        }

        long now = Environment.TickCount64;
        _requestStarted = now;
        if (PhaseTimeout is not { } timeout)
        {
            return;
        }

        long due = now + (long)timeout.TotalMilliseconds;
        if (_requestTimer is not null && _requestTimerDue > due)
        {
            // Armed for a longer limit (a body's, before this keep-alive head): the head's is shorter.
            _requestTimer.Cancel();
            _requestTimer = null;
        }

        if (_requestTimer is null)
        {
            // One timer at a time per connection, re-armed only while a request is in progress.
            _requestTimer = Map.CallLater(timeout, _onRequestTimer);
            _requestTimerDue = due;
        }
    }

    /// <summary>Body bytes arrived: the per-read clock starts again.</summary>
    private void BodyRead()
    {
        if (_onRequestTimer is not null)
        {
            _requestStarted = Environment.TickCount64;
        }
    }

    private void OnRequestTimer()
    {
        _requestTimer = null;
        if (Fileno < 0 || _requestStarted == 0 || _phase == Phase.Closing || PhaseTimeout is not { } timeout)
        {
            return;
        }

        long now = Environment.TickCount64;
        long elapsed = now - _requestStarted;
        if (elapsed >= (long)timeout.TotalMilliseconds)
        {
            Close(); // a request that started but did not arrive in time (a slowloris), or a body that stopped, is closed quietly, as nginx does
            return;
        }

        TimeSpan rest = timeout - TimeSpan.FromMilliseconds(elapsed);
        _requestTimer = Map.CallLater(rest, _onRequestTimer!);
        _requestTimerDue = now + (long)rest.TotalMilliseconds;
    }

    /// <summary>Answers whose file body is queued and not yet done.</summary>
    internal int FilesQueued { get; set; }

    /// <summary>A file body ended (sent, came up short, or dropped with the connection): logged with the bytes the socket took.</summary>
    internal void FileDone(Action<long>? logged, long sent)
    {
        FilesQueued--;
        if (FilesQueued == 0)
        {
            Cork(false);
        }

        logged?.Invoke(sent);
    }

    /// <summary>Whether TCP_CORK is set on the socket now (<see cref="Cork"/>).</summary>
    private bool _corked;

    /// <summary>
    /// TCP_CORK on or off, as nginx's <c>tcp_nopush</c> sets it around a file body: while it is on, the
    /// kernel sends only full segments, so the head and the file's first bytes leave together and the
    /// server's own sendfile(2) calls carry the body to the client (without it a 1 MiB body went out as
    /// the client's acknowledgements let it, paid for on the client's CPU, at two thirds of nginx's
    /// throughput). Set before a file's head is queued, cleared when the last queued file body is done,
    /// which sends whatever is left. Linux only, and only in the clear; a failure is ignored (the
    /// bytes go out all the same, only in smaller segments).
    /// </summary>
    internal void Cork(bool on)
    {
        if (on == _corked || !OperatingSystem.IsLinux() || IsTls || Socket is not { } socket)
        {
            return;
        }

        _corked = on;
        try
        {
            Span<byte> value = stackalloc byte[4];
            BitConverter.TryWriteBytes(value, on ? 1 : 0);
            socket.SetRawSocketOption(IpProtocolTcp, TcpCork, value);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private const int IpProtocolTcp = 6;

    private const int TcpCork = 3;

    /// <summary>Idle keep-alive connections close quietly.</summary>
    protected override void HandleIdle() => Close();

    /// <summary>Closes the connection, its request timer, and the files of answers still queued with it (the library ends the regions in its own queue; the held ones end here).</summary>
    public override void Close()
    {
        base.Close();
        DropQueued();
        _requestTimer?.Cancel();
        _requestTimer = null;
        _helloTimer?.Cancel();
        _helloTimer = null;
    }
}
