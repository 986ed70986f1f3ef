using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tls.OpenSsl;

/// <summary>
/// A TLS session on OpenSSL's memory BIOs (libssl.so.3 through P/Invoke): ciphertext from the socket is
/// written into one BIO, ciphertext to send is read out of the other, and SSL_read/SSL_write move plaintext,
/// the way Python's <c>ssl.SSLObject</c>, Netty's OpenSSL engine and nginx drive OpenSSL.
/// </summary>
/// <remarks>
/// One SSL and two memory BIOs per session; the SSL_CTX is shared per options object (<see cref="OpenSslContext"/>).
/// Read, Write, FeedInput and TakeOutput pin the caller's spans and allocate nothing. Certificates are checked
/// by .NET's <see cref="X509Chain"/> from OpenSSL's verify callback, so the policy errors and the
/// <see cref="RemoteCertificateValidationCallback"/> are SslStream's. Not thread-safe: one loop thread drives it.
/// </remarks>
internal sealed unsafe partial class OpenSslEngine : ITlsEngine
{
    private readonly OpenSslContext _context;
    private readonly SafeSslHandle _handle;
    private readonly nint _ssl;
    private readonly nint _input;
    private readonly nint _output;
    private readonly object _sender;
    private readonly string? _targetHost;
    private bool _complete;
    private bool _failed;
    private bool _shutdownSent;
    private bool _peerClosed;
    private bool _disposed;

    // Record boundaries of the ciphertext fed so far, to tell whether whole records wait unread (PendingPlaintext).
    private long _fed;
    private long _lastRecordEnd;
    private long _nextRecordStart;
    private int _headerHave;
    private int _recordLength;

    private Exception? _callbackError;
    private string? _rejection;
    private X509Certificate2? _remoteCertificate;
    private bool _remoteCertificateRead;
    private SslApplicationProtocol? _applicationProtocol;
    private string? _serverName;

    /// <summary>A server session (accept state) for <paramref name="options"/>.</summary>
    /// <param name="options">The server's options; its SSL_CTX is built once and shared by every session made from this object.</param>
    /// <param name="sender">What the validation callback receives as its sender (the channel); the engine when null.</param>
    public OpenSslEngine(SslServerAuthenticationOptions options, object? sender = null)
        : this(OpenSslContext.For(options ?? throw new ArgumentNullException(nameof(options))), sender, targetHost: null)
    {
    }

    /// <summary>A client session (connect state) for <paramref name="options"/>: SNI and the name check use its TargetHost.</summary>
    /// <param name="options">The client's options; its SSL_CTX is built once and shared by every session made from this object.</param>
    /// <param name="sender">What the validation callback receives as its sender (the channel); the engine when null.</param>
    public OpenSslEngine(SslClientAuthenticationOptions options, object? sender = null)
        : this(OpenSslContext.For(options ?? throw new ArgumentNullException(nameof(options))), sender, options.TargetHost)
    {
    }

    private OpenSslEngine(OpenSslContext context, object? sender, string? targetHost)
    {
        _context = context;
        _sender = sender ?? this;
        _targetHost = string.IsNullOrEmpty(targetHost) ? null : targetHost;
        nint ssl = LibSsl.SslNew(context.Handle.DangerousGetHandle());
        if (ssl == 0)
        {
            throw OpenSslLibrary.SetupError("SSL_new");
        }

        _handle = new SafeSslHandle(ssl, this);
        _ssl = ssl;
        _input = LibCrypto.BioNew(LibCrypto.BioSMem());
        _output = LibCrypto.BioNew(LibCrypto.BioSMem());
        if (_input == 0 || _output == 0)
        {
            FreeBio(_input);
            FreeBio(_output);
            _handle.Dispose();
            throw OpenSslLibrary.SetupError("BIO_new");
        }

        // The SSL owns both BIOs from here and frees them in SSL_free. An empty memory BIO reports
        // "retry" (its default EOF value is -1), which SSL_get_error turns into WANT_READ.
        LibSsl.SslSetBio(ssl, _input, _output);
        LibSsl.SslSetExData(ssl, OpenSslLibrary.SslIndex, _handle.OwnerCookie);
        if (context.IsServer)
        {
            LibSsl.SslSetAcceptState(ssl);
        }
        else
        {
            LibSsl.SslSetConnectState(ssl);
            // SNI carries a DNS name only (RFC 6066 section 3); SslStream leaves it out for an IP address too.
            if (_targetHost is not null && !System.Net.IPAddress.TryParse(_targetHost, out _))
            {
                SetHostName(ssl, _targetHost);
            }
        }
    }

    /// <summary>Whether libssl.so.3 loads and is at least OpenSSL 1.1.1; when false, use the SslStream engine.</summary>
    public static bool IsAvailable => OpenSslLibrary.IsAvailable;

    /// <inheritdoc/>
    public bool IsHandshakeComplete => _complete;

    /// <inheritdoc/>
    public int PendingOutput
    {
        get
        {
            ThrowIfDisposed();
            return (int)LibCrypto.BioCtrl(_output, LibCrypto.BIO_CTRL_PENDING, 0, 0);
        }
    }

    /// <summary>
    /// Plaintext held by the engine and readable without new ciphertext: the decrypted rest of the current
    /// record (SSL_pending), plus, as an upper bound, the payload of whole records already fed and not yet
    /// decrypted. Greater than 0 exactly when <see cref="Read"/> can make progress without new input, so
    /// 0 after the peer's close_notify or a failure, whatever bytes came behind them.
    /// </summary>
    public int PendingPlaintext
    {
        get
        {
            ThrowIfDisposed();
            if (_peerClosed || _failed)
            {
                return 0;
            }

            int decrypted = LibSsl.SslPending(_ssl);
            long unread = LibCrypto.BioCtrl(_input, LibCrypto.BIO_CTRL_PENDING, 0, 0);
            long consumed = _fed - unread;
            long waiting = _lastRecordEnd - consumed;
            return (int)Math.Min(int.MaxValue, decrypted + Math.Max(0, waiting));
        }
    }

    /// <inheritdoc/>
    public TlsStatus Handshake()
    {
        ThrowIfUnusable();
        if (_complete)
        {
            return TlsStatus.Ok;
        }

        LibCrypto.ErrClearError();
        int result = LibSsl.SslDoHandshake(_ssl);
        if (result == 1)
        {
            _complete = true;
            CheckMissingClientCertificate();
            return TlsStatus.Ok;
        }

        TlsStatus status = Status(result, "SSL_do_handshake");
        return status == TlsStatus.WantRead && PendingOutput > 0 ? TlsStatus.WantWrite : status;
    }

    /// <inheritdoc/>
    public void FeedInput(ReadOnlySpan<byte> ciphertext)
    {
        ThrowIfUnusable();
        if (ciphertext.IsEmpty)
        {
            return;
        }

        fixed (byte* p = ciphertext)
        {
            if (LibCrypto.BioWrite(_input, p, ciphertext.Length) != ciphertext.Length)
            {
                _failed = true;
                throw new IOException($"BIO_write failed: {OpenSslLibrary.DrainErrors() ?? "out of memory"}");
            }
        }

        TrackRecords(ciphertext);
    }

    /// <inheritdoc/>
    public int TakeOutput(Span<byte> destination)
    {
        ThrowIfDisposed();
        if (destination.IsEmpty || LibCrypto.BioCtrl(_output, LibCrypto.BIO_CTRL_PENDING, 0, 0) == 0)
        {
            return 0;
        }

        fixed (byte* p = destination)
        {
            return Math.Max(0, LibCrypto.BioRead(_output, p, destination.Length));
        }
    }

    /// <inheritdoc/>
    public TlsStatus Read(Span<byte> destination, out int read)
    {
        read = 0;
        if (!HandshakeDone(out TlsStatus handshake))
        {
            return handshake;
        }

        if (destination.IsEmpty)
        {
            return TlsStatus.Ok;
        }

        LibCrypto.ErrClearError();
        int result;
        fixed (byte* p = destination)
        {
            result = LibSsl.SslRead(_ssl, p, destination.Length);
        }

        if (result > 0)
        {
            read = result;
            return TlsStatus.Ok;
        }

        return Status(result, "SSL_read");
    }

    /// <inheritdoc/>
    public TlsStatus Write(ReadOnlySpan<byte> source, out int written)
    {
        written = 0;
        if (!HandshakeDone(out TlsStatus handshake))
        {
            return handshake;
        }

        LibCrypto.ErrClearError();
        fixed (byte* p = source)
        {
            // One call normally takes it all (a memory BIO never refuses); loop in case a call stops at a record.
            while (written < source.Length)
            {
                int result = LibSsl.SslWrite(_ssl, p + written, source.Length - written);
                if (result <= 0)
                {
                    return Status(result, "SSL_write");
                }

                written += result;
            }
        }

        return TlsStatus.Ok;
    }

    /// <inheritdoc/>
    public void Shutdown()
    {
        // OpenSSL: SSL_shutdown must not be called after a fatal error; before the handshake there is
        // no session to close, and the connection is simply dropped (nginx does the same).
        if (_disposed || _failed || !_complete || _shutdownSent)
        {
            return;
        }

        _shutdownSent = true;
        LibCrypto.ErrClearError();
        LibSsl.SslShutdown(_ssl); // 0: close_notify queued in the output, the peer's not seen yet; that is all we need.
        LibCrypto.ErrClearError();
    }

    /// <summary>Frees the SSL and its BIOs; the shared context stays for the other sessions.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _handle.Dispose();
    }

    /// <summary>SSL_set_tlsext_host_name.</summary>
    private static void SetHostName(nint ssl, string host)
    {
        int length = System.Text.Encoding.UTF8.GetByteCount(host);
        Span<byte> name = length < 256 ? stackalloc byte[length + 1] : new byte[length + 1];
        System.Text.Encoding.UTF8.GetBytes(host, name);
        name[length] = 0;
        fixed (byte* p = name)
        {
            if (LibSsl.SslCtrl(ssl, LibSsl.SSL_CTRL_SET_TLSEXT_HOSTNAME, LibSsl.TLSEXT_NAMETYPE_host_name, (nint)p) != 1)
            {
                throw OpenSslLibrary.SetupError("SSL_set_tlsext_host_name");
            }
        }
    }

    private static void FreeBio(nint bio)
    {
        if (bio != 0)
        {
            LibCrypto.BioFree(bio);
        }
    }

    /// <summary>Follows the 5-byte record headers through the fed ciphertext (no copy, no allocation).</summary>
    private void TrackRecords(ReadOnlySpan<byte> data)
    {
        long start = _fed;
        _fed += data.Length;
        while (true)
        {
            if (_headerHave < 5)
            {
                long at = _nextRecordStart + _headerHave - start;
                while (_headerHave < 5 && at < data.Length)
                {
                    // Bytes 3 and 4 of the header are the record's length, big-endian.
                    byte b = data[(int)at++];
                    _recordLength = _headerHave switch
                    {
                        3 => b << 8,
                        4 => _recordLength | b,
                        _ => _recordLength,
                    };
                    _headerHave++;
                }

                if (_headerHave < 5)
                {
                    return;
                }
            }

            long end = _nextRecordStart + 5 + _recordLength;
            if (end > _fed)
            {
                return;
            }

            _lastRecordEnd = end;
            _nextRecordStart = end;
            _headerHave = 0;
        }
    }

    /// <summary>What SSL_get_error says about a result that was not success: a status, or a throw.</summary>
    private TlsStatus Status(int result, string call)
    {
        int error = LibSsl.SslGetError(_ssl, result);
        switch (error)
        {
            case LibSsl.SSL_ERROR_WANT_READ:
                return TlsStatus.WantRead;
            case LibSsl.SSL_ERROR_WANT_WRITE:
                return TlsStatus.WantWrite;
            case LibSsl.SSL_ERROR_ZERO_RETURN:
                _peerClosed = true;
                return TlsStatus.Closed;
            default:
                throw Failure(call, error);
        }
    }

    /// <summary>The exception for a fatal error: OpenSSL's reason text, the certificate check's verdict, a callback's throw.</summary>
    private Exception Failure(string call, int error)
    {
        _failed = true;
        string reason = OpenSslLibrary.DrainErrors()
            ?? (error == LibSsl.SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream" : $"SSL_get_error {error}");
        if (_callbackError is { } thrown)
        {
            _callbackError = null;
            return thrown as AuthenticationException
                ?? new AuthenticationException($"A certificate callback threw: {thrown.Message} ({call}: {reason})", thrown);
        }

        if (_rejection is not null)
        {
            return new AuthenticationException($"{_rejection} ({call}: {reason})");
        }

        return _complete
            ? new IOException($"TLS {call} failed: {reason}")
            : new AuthenticationException($"TLS handshake failed ({call}): {reason}");
    }

    /// <summary>Read and Write before the handshake has finished drive it first (as SSL_read would); false with its status while it goes on.</summary>
    private bool HandshakeDone(out TlsStatus status)
    {
        ThrowIfUnusable();
        status = _complete ? TlsStatus.Ok : Handshake();
        return _complete;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private void ThrowIfUnusable()
    {
        ThrowIfDisposed();
        if (_failed)
        {
            throw new IOException("The TLS session failed earlier and cannot be used.");
        }
    }
}
