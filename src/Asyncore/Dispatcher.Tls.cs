using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Polling;
using Asyncore.Reactor;
using Asyncore.Tls;

namespace Asyncore;

public partial class Dispatcher
{
    /// <summary>The most plaintext one <see cref="Send"/> encrypts, so the ciphertext a channel holds beyond its queue stays small.</summary>
    private const int TlsWriteChunk = 64 * 1024;

    /// <summary>Room for ciphertext moving between the socket and the engine (two full records).</summary>
    private const int TlsScratchSize = 34 * 1024;

    /// <summary>What <see cref="SocketRecvRaw"/> and <see cref="SocketSendRaw"/> answer when the peer is gone (HandleClose has run); the plain Send and Recv go through them too.</summary>
    private const int TlsPeerGone = -2;

    /// <summary>How often a channel with its own Readable() is asked again while the engine holds plaintext it does not want yet.</summary>
    private static readonly TimeSpan TlsReadablePollInterval = TimeSpan.FromMilliseconds(10);

    [ThreadStatic]
    private static byte[]? t_tlsScratch;

    private TlsSession? _tls;
    private TimeSpan _tlsHandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Makes the channel a TLS server from now on: the handshake runs on the loop's thread as the
    /// client's records arrive, then <see cref="HandleTlsHandshakeComplete"/> runs, and from then on
    /// <see cref="Recv(Span{byte})"/> returns decrypted bytes and <see cref="Send"/> encrypts (for an
    /// <see cref="AsyncChat"/>: framing, producers, limits and timers work unchanged over it). Call it
    /// right after accepting (HTTPS) or when the protocol says so (STARTTLS): an <see cref="AsyncChat"/>
    /// sends what it queued before the call in the clear first and drops input it received and did not
    /// frame yet, so nothing the client pipelined behind the command is ever read as if it came
    /// through TLS. A handshake that does not complete within <see cref="TlsHandshakeTimeout"/>, that
    /// fails, or that brings more than 128 KiB closes the channel (<see cref="HandleTlsHandshakeFailed"/>).
    /// </summary>
    /// <param name="options">The certificate (set <see cref="SslServerAuthenticationOptions.ServerCertificateContext"/> once and share it, so the chain is not built per connection), protocols, ALPN, client-certificate policy.</param>
    /// <exception cref="InvalidOperationException">TLS was already started, or the channel has no connected socket, or listens, or output is queued (it would go out unencrypted; see <see cref="StartTls(SslServerAuthenticationOptions, bool)"/>).</exception>
    /// <remarks>
    /// Python: SSLContext.wrap_socket(sock, server_side=True, do_handshake_on_connect=False) on a dispatcher's socket; Twisted: ITLSTransport.startTLS.
    /// The engine is OpenSSL's (libssl.so.3 through memory BIOs) where it loads, else SslStream's; set the
    /// environment variable <c>ASYNCORE_TLS_ENGINE=sslstream</c> to use SslStream everywhere. A validation
    /// callback's sender is this channel with OpenSSL, the SslStream with SslStream. One SSL context is built
    /// per options object and shared by every channel given that object, so reuse one options object per
    /// listener and make a new one to change settings. Without a <c>CertificateChainPolicy</c> in the options,
    /// a peer's chain is built with nothing downloaded (a missing intermediate fails the handshake); a policy
    /// that allows downloads or online revocation blocks the loop while they last.
    /// </remarks>
    public void StartTls(SslServerAuthenticationOptions options) => StartTls(options, sendQueuedInClear: false);

    /// <summary>
    /// <see cref="StartTls(SslServerAuthenticationOptions)"/>, saying what happens to output queued
    /// before the call: with <paramref name="sendQueuedInClear"/> true it goes out unencrypted ahead of
    /// the handshake, as STARTTLS's own reply must ("220 Ready to start TLS"); false refuses to start
    /// while any is queued, so nothing meant for the encrypted connection leaves in the clear by accident.
    /// </summary>
    /// <param name="options">As for <see cref="StartTls(SslServerAuthenticationOptions)"/>.</param>
    /// <param name="sendQueuedInClear">Whether output queued now is sent in the clear before the handshake.</param>
    /// <exception cref="InvalidOperationException">TLS was already started, the channel has no connected socket or listens, or output is queued and <paramref name="sendQueuedInClear"/> is false.</exception>
    public void StartTls(SslServerAuthenticationOptions options, bool sendQueuedInClear)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckTlsCanStart();
        CheckQueuedOutput(sendQueuedInClear);
        BeginTls(TlsEngineFactory.CreateServer(options, this));
    }

    /// <summary>
    /// Makes the channel a TLS client from now on: the client's hello leaves as soon as the socket is
    /// connected, the handshake runs on the loop's thread, then <see cref="HandleTlsHandshakeComplete"/>
    /// runs and the channel's bytes are encrypted both ways (see <see cref="StartTls(SslServerAuthenticationOptions)"/>).
    /// Call it after <see cref="Connect"/> (before or after the connect completes), or when the server
    /// accepted STARTTLS.
    /// </summary>
    /// <param name="options">The server name (<see cref="SslClientAuthenticationOptions.TargetHost"/>, sent as SNI and checked against the certificate), protocols, ALPN, validation callback, client certificates.</param>
    /// <exception cref="InvalidOperationException">TLS was already started, or the channel has no socket, or listens, or output is queued (see <see cref="StartTls(SslClientAuthenticationOptions, bool)"/>).</exception>
    /// <remarks>
    /// Python: SSLContext.wrap_socket(sock, server_hostname=...); Twisted: ITLSTransport.startTLS.
    /// Without a <c>CertificateChainPolicy</c> in the options, the server's chain is built with nothing
    /// downloaded (a missing intermediate fails the handshake); a policy that allows downloads or online
    /// revocation blocks the loop while they last.
    /// </remarks>
    public void StartTls(SslClientAuthenticationOptions options) => StartTls(options, sendQueuedInClear: false);

    /// <summary>
    /// <see cref="StartTls(SslClientAuthenticationOptions)"/>, saying what happens to output queued
    /// before the call (see <see cref="StartTls(SslServerAuthenticationOptions, bool)"/>).
    /// </summary>
    /// <param name="options">As for <see cref="StartTls(SslClientAuthenticationOptions)"/>.</param>
    /// <param name="sendQueuedInClear">Whether output queued now is sent in the clear before the handshake.</param>
    /// <exception cref="InvalidOperationException">TLS was already started, the channel has no socket or listens, or output is queued and <paramref name="sendQueuedInClear"/> is false.</exception>
    public void StartTls(SslClientAuthenticationOptions options, bool sendQueuedInClear)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckTlsCanStart();
        CheckQueuedOutput(sendQueuedInClear);
        BeginTls(TlsEngineFactory.CreateClient(options, this));
    }

    /// <summary>Output queued before TLS starts goes out in the clear: only when the caller says so, and then it is logged (debug).</summary>
    private void CheckQueuedOutput(bool sendQueuedInClear)
    {
        long owed = TlsPlaintextOwed();
        if (owed == 0)
        {
            return;
        }

        if (!sendQueuedInClear)
        {
            throw new InvalidOperationException(
                $"{owed} bytes of output are queued and would go out unencrypted ahead of the TLS handshake. Start TLS before pushing what is meant for the encrypted connection, " +
                "or, for STARTTLS's own reply, call StartTls(options, sendQueuedInClear: true).");
        }

        if (_map.Logger is { } logger && logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Debug))
        {
            Microsoft.Extensions.Logging.LoggerExtensions.LogDebug(logger, "{Channel}: {Bytes} queued bytes go out in the clear before the TLS handshake", this, owed);
        }
    }

    /// <summary>Whether <c>StartTls</c> was called on this connection (the handshake may still be under way).</summary>
    public bool IsTls => _tls is not null;

    /// <summary>Whether the TLS handshake has completed.</summary>
    public bool IsTlsHandshakeComplete => _tls is { Established: true };

    /// <summary>The negotiated TLS version; <see cref="SslProtocols.None"/> before the handshake completes.</summary>
    /// <remarks>Python: SSLSocket.version()</remarks>
    public SslProtocols TlsProtocol => _tls?.Protocol ?? SslProtocols.None;

    /// <summary>The negotiated cipher suite; 0 (<c>TLS_NULL_WITH_NULL_NULL</c>) before the handshake completes.</summary>
    /// <remarks>Python: SSLSocket.cipher()</remarks>
    public System.Net.Security.TlsCipherSuite TlsCipherSuite => _tls?.CipherSuite ?? default;

    /// <summary>The protocol chosen by ALPN, or the default value when none was.</summary>
    /// <remarks>Python: SSLSocket.selected_alpn_protocol()</remarks>
    public SslApplicationProtocol TlsApplicationProtocol => _tls?.ApplicationProtocol ?? default;

    /// <summary>The certificate the peer presented, or null (a client that sent none, or before the handshake completes).</summary>
    /// <remarks>Python: SSLSocket.getpeercert(binary_form=True)</remarks>
    public X509Certificate2? TlsRemoteCertificate => _tls?.RemoteCertificate;

    /// <summary>On a server, the name the client asked for (SNI); on a client, the target host. Null when there was none.</summary>
    /// <remarks>Python: SSLSocket.server_hostname</remarks>
    public string? TlsServerName => _tls?.ServerName;

    /// <summary>How long a handshake may take from <c>StartTls</c> (default 10 s); set it before calling <c>StartTls</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan TlsHandshakeTimeout
    {
        get => _tlsHandshakeTimeout;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _tlsHandshakeTimeout = value;
        }
    }

    /// <summary>The TLS handshake completed; the negotiated parameters are readable. By default does nothing.</summary>
    /// <remarks>Twisted: IHandshakeListener.handshakeCompleted</remarks>
    protected virtual void HandleTlsHandshakeComplete()
    {
    }

    /// <summary>
    /// The TLS handshake failed (bad records, plain text on a TLS port, a rejected certificate, the peer
    /// left, too much data) or timed out. By default logs it as "info" (nginx logs these at info level).
    /// The channel is closed after this returns.
    /// </summary>
    /// <param name="error">Why: an <see cref="AuthenticationException"/>, an <see cref="IOException"/> or a <see cref="TimeoutException"/>.</param>
    protected virtual void HandleTlsHandshakeFailed(Exception error) =>
        LogInfo($"{PeerText()}: TLS handshake failed: {LogText.Escape(error.Message)}", "info");

    /// <summary>The peer's address for a log line, or "-" when it is not known.</summary>
    private string PeerText() => Addr is { } addr ? LogText.Escape(addr.ToString()) : "-";

    /// <summary>The session's engine (tests look inside it).</summary>
    internal ITlsEngine? TlsEngine => _tls is { Ended: false } s ? s.Engine : null;

    /// <summary>Ciphertext is waiting to be sent: the channel must be watched for writing.</summary>
    internal bool TlsOutputPending => _tls is { PlaintextOwed: 0 } s && s.OutputPending;

    /// <summary>The handshake is under way: the channel must be read even where its protocol would pause.</summary>
    internal bool TlsHandshaking => _tls is { Ended: false, Established: false };

    /// <summary>The engine holds decrypted bytes not yet read.</summary>
    internal bool TlsInputBuffered => _tls is { Ended: false } s && s.Engine.PendingPlaintext > 0;

    /// <summary>A predicate's answer adjusted for TLS: ciphertext waiting counts, and application output waits for the handshake.</summary>
    private protected bool TlsWritable(bool applicationWants) =>
        _tls is not { Ended: false } s
            ? applicationWants
            : (s.PlaintextOwed == 0 && s.OutputPending) || (applicationWants && (s.PlaintextOwed > 0 || (s.Established && !s.ShutdownSent)));

    /// <summary>Plaintext queued before the switch that must still go out as it is (<see cref="AsyncChat"/>: its queue, with its unframed input dropped).</summary>
    private protected virtual long TlsPlaintextOwed() => 0;

    private void CheckTlsCanStart()
    {
        if (_tls is { Ended: false })
        {
            throw new InvalidOperationException("TLS was already started on this channel");
        }

        if (Accepting || Socket is null || _fileno < 0)
        {
            throw new InvalidOperationException("TLS starts on a connected or connecting channel in a map, not on a listener or a channel without a socket");
        }
    }

    private void BeginTls(ITlsEngine engine)
    {
        TlsSession s;
        try
        {
            s = new TlsSession(engine, TlsPlaintextOwed());
            engine.Handshake(); // a client writes its hello; options the engine refuses throw here, to the caller
        }
        catch
        {
            engine.Dispose();
            throw;
        }

        _tls = s;
        s.HandshakeDeadline = new Deadline(() => Guard(() => TlsFail(new TimeoutException($"the TLS handshake did not complete within {_tlsHandshakeTimeout}"))));
        s.HandshakeDeadline.Set(_map.Reactor.Timers, Deadline.After(Deadline.Now, _tlsHandshakeTimeout));
        if (Connected)
        {
            TlsFlush(s);
        }

        InterestChanged();
    }
}
