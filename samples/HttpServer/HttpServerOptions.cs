namespace Asyncore.Samples.Http;

/// <summary>What the server is told on its command line.</summary>
public sealed record HttpServerOptions
{
    /// <summary>Serve files under this folder; null serves the built-in page.</summary>
    public string? Root { get; init; }

    /// <summary>
    /// Serve what symbolic links under <see cref="Root"/> lead to wherever it is. Off by default: a
    /// path that leads outside the root through a link is 403 (as nginx's <c>disable_symlinks</c>
    /// answers); links that stay inside the root are followed either way.
    /// </summary>
    public bool FollowSymlinks { get; init; }

    /// <summary>
    /// The most files each loop keeps open between requests, with their stat results and the fixed part
    /// of their heads (nginx's <c>open_file_cache max=</c>); each request checks with one stat of its
    /// path that the file kept is still the one there. 0 keeps none.
    /// </summary>
    public int OpenFileCache { get; init; } = 1000;

    /// <summary>The largest POST body accepted (413 above it).</summary>
    public long MaxBody { get; init; } = 1024 * 1024;

    /// <summary>The largest request head, request line and headers (431 above it; 414 when the request line alone is over it).</summary>
    public int MaxHeaderBytes { get; init; } = 8 * 1024;

    /// <summary>A connection with no bytes in or out for this long is closed (keep-alive idle time).</summary>
    public TimeSpan? IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A request head that has started must arrive within this time, or the connection is closed (nginx's client_header_timeout).</summary>
    public TimeSpan? RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// While a request body is read, each read must come within this time of the one before, or the
    /// connection is closed (nginx's client_body_timeout, 60 s): a slow but steady upload is never cut,
    /// a stalled one is.
    /// </summary>
    public TimeSpan? BodyReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A client that leaves more than this many bytes of answers unread is closed.</summary>
    public long OutputLimit { get; init; } = 64L * 1024 * 1024;

    /// <summary>While more than this many bytes of answers (and queued entries) wait unsent, the connection's requests are not read: a client that pipelines and never reads costs a bounded amount.</summary>
    public long OutputHighWaterMark { get; init; } = 256 * 1024;

    /// <summary>
    /// Every connection must begin with a PROXY protocol header (v1 or v2, as HAProxy's send-proxy
    /// and send-proxy-v2 send it); the access log shows the client address it carries. A connection
    /// without a valid header, or whose header is not complete within <see cref="RequestTimeout"/>
    /// (10 s without one), is closed without an answer.
    /// </summary>
    public bool ProxyProtocol { get; init; }

    /// <summary>
    /// With <see cref="ProxyProtocol"/>: the networks the proxies connect from; a connection from
    /// elsewhere is closed without an answer (nginx's <c>set_real_ip_from</c>). Null: any sender's
    /// header is believed, so the port must be reachable from the proxies alone.
    /// </summary>
    public IReadOnlyList<System.Net.IPNetwork>? ProxyFrom { get; init; }

    /// <summary>No access log.</summary>
    public bool Quiet { get; init; }

    /// <summary>When set, every connection is HTTPS: TLS starts as soon as it is accepted.</summary>
    public System.Net.Security.SslServerAuthenticationOptions? Tls { get; init; }

    /// <summary>
    /// With <see cref="Tls"/>: TLS starts at the client's first byte, and a connection whose first
    /// byte is a letter (plain HTTP sent to the HTTPS port) is answered 400 "The plain HTTP request was
    /// sent to HTTPS port" and closed, as nginx answers it. The byte is peeked from the socket, which
    /// io_uring's receive does not allow (it reads the bytes into its ring first): the program turns
    /// this off with <c>--poller io_uring</c>, and TLS then starts when the connection is accepted.
    /// Not with <see cref="ProxyProtocol"/>, whose header comes first.
    /// </summary>
    public bool DetectPlainHttp { get; init; } = true;

    /// <summary>Where access log lines go (standard output by default).</summary>
    public TextWriter Log { get; init; } = Console.Out;
}
