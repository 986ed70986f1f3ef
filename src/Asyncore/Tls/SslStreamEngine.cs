using System.Buffers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tls;

/// <summary>
/// <see cref="ITlsEngine"/> over .NET's own <see cref="SslStream"/>, the engine available wherever .NET
/// runs. The SslStream sits on a <see cref="MemoryTransport"/> the engine owns: its reads complete from
/// the ciphertext the loop feeds (inline, on the loop's thread) or stay pending until the next feed,
/// and its writes land in an output queue the loop takes from. The handshake and the plaintext reads
/// are SslStream's asynchronous calls, started once and looked at again after each feed; they finish
/// inside <see cref="FeedInput"/>, never on a thread-pool thread.
/// </summary>
internal sealed class SslStreamEngine : ITlsEngine
{
    /// <summary>Room for one record's plaintext (TLS records carry at most 16 KiB).</summary>
    private const int PlaintextBufferSize = 16 * 1024;

    private readonly MemoryTransport _transport = new();
    private readonly SslStream _ssl;
    private readonly SslServerAuthenticationOptions? _serverOptions;
    private readonly SslClientAuthenticationOptions? _clientOptions;
    private Task? _handshake;
    private ValueTask<int> _read;
    private bool _readOutstanding;
    private byte[]? _plain;
    private int _plainStart;
    private int _plainEnd;
    private bool _peerClosed;
    private bool _disposed;

    private SslStreamEngine(SslServerAuthenticationOptions? server, SslClientAuthenticationOptions? client)
    {
        _serverOptions = server;
        _clientOptions = client;
        _ssl = new SslStream(_transport, leaveInnerStreamOpen: false);
    }

    /// <summary>
    /// A server session: it waits for the client's hello. Without suites or versions in the options it offers
    /// the server policy (<see cref="ServerTlsPolicy"/>). A client certificate it asks for is checked without
    /// a download unless the options give a chain policy (<see cref="SslStreamChainOptions"/>).
    /// </summary>
    internal static SslStreamEngine CreateServer(SslServerAuthenticationOptions options) => new(SslStreamChainOptions.For(ServerTlsPolicy.For(options)), null);

    /// <summary>
    /// A client session: its first <see cref="Handshake"/> writes the client's hello. The server's certificate
    /// is checked without a download unless the options give a chain policy (<see cref="SslStreamChainOptions"/>).
    /// </summary>
    internal static SslStreamEngine CreateClient(SslClientAuthenticationOptions options) => new(null, SslStreamChainOptions.For(options));

    /// <summary>When set, told the name of every step the transport under the SslStream takes.</summary>
    internal Action<string>? Observer
    {
        get => _transport.Observer;
        set => _transport.Observer = value;
    }

    /// <inheritdoc/>
    public bool IsHandshakeComplete { get; private set; }

    /// <inheritdoc/>
    public TlsStatus Handshake()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsHandshakeComplete)
        {
            return TlsStatus.Ok;
        }

        _handshake ??= _serverOptions is not null
            ? _ssl.AuthenticateAsServerAsync(_serverOptions, CancellationToken.None)
            : _ssl.AuthenticateAsClientAsync(_clientOptions!, CancellationToken.None);
        if (_handshake.IsCompleted)
        {
            _handshake.GetAwaiter().GetResult(); // throws the handshake's failure
            IsHandshakeComplete = true;
            return TlsStatus.Ok;
        }

        return _transport.Output.Count > 0 ? TlsStatus.WantWrite : TlsStatus.WantRead;
    }

    /// <inheritdoc/>
    public void FeedInput(ReadOnlySpan<byte> ciphertext)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _transport.Feed(ciphertext);
    }

    /// <inheritdoc/>
    public int PendingOutput => _transport.Output.Count;

    /// <inheritdoc/>
    public int TakeOutput(Span<byte> destination) => _transport.Output.Take(destination);

    /// <summary>Ciphertext fed and not yet taken in by the SslStream.</summary>
    internal int BufferedInput => _transport.BufferedInput;

    /// <inheritdoc/>
    public TlsStatus Read(Span<byte> destination, out int read)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        read = 0;
        if (_plainEnd > _plainStart)
        {
            return CopyPlain(destination, out read);
        }

        if (_peerClosed)
        {
            return TlsStatus.Closed;
        }

        if (!_readOutstanding)
        {
            _plain ??= ArrayPool<byte>.Shared.Rent(PlaintextBufferSize);
            _read = _ssl.ReadAsync(_plain.AsMemory(0, PlaintextBufferSize), CancellationToken.None);
            _readOutstanding = true;
        }

        if (!_read.IsCompleted)
        {
            return TlsStatus.WantRead;
        }

        _readOutstanding = false;
        int n = _read.GetAwaiter().GetResult(); // throws a bad record's error
        _read = default;
        if (n == 0)
        {
            _peerClosed = true;
            return TlsStatus.Closed;
        }

        _plainStart = 0;
        _plainEnd = n;
        return CopyPlain(destination, out read);
    }

    private TlsStatus CopyPlain(Span<byte> destination, out int read)
    {
        read = Math.Min(destination.Length, _plainEnd - _plainStart);
        _plain.AsSpan(_plainStart, read).CopyTo(destination);
        _plainStart += read;
        return TlsStatus.Ok;
    }

    /// <inheritdoc/>
    public int PendingPlaintext => _plainEnd - _plainStart;

    /// <inheritdoc/>
    public TlsStatus Write(ReadOnlySpan<byte> source, out int written)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!IsHandshakeComplete)
        {
            throw new InvalidOperationException("the TLS handshake is not complete");
        }

        // The synchronous path: SslStream encrypts and writes each record to the transport, which
        // appends it to the output queue and returns at once.
        _ssl.Write(source);
        written = source.Length;
        return TlsStatus.Ok;
    }

    /// <inheritdoc/>
    public void Shutdown()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!IsHandshakeComplete)
        {
            return;
        }

        Task shutdown = _ssl.ShutdownAsync();
        if (shutdown.IsCompleted)
        {
            shutdown.GetAwaiter().GetResult();
        }
    }

    /// <inheritdoc/>
    public SslProtocols Protocol => IsHandshakeComplete ? _ssl.SslProtocol : SslProtocols.None;

    /// <inheritdoc/>
    public TlsCipherSuite CipherSuite => IsHandshakeComplete ? _ssl.NegotiatedCipherSuite : default;

    /// <inheritdoc/>
    public SslApplicationProtocol ApplicationProtocol => IsHandshakeComplete ? _ssl.NegotiatedApplicationProtocol : default;

    /// <inheritdoc/>
    public X509Certificate2? RemoteCertificate => IsHandshakeComplete ? _ssl.RemoteCertificate as X509Certificate2 : null;

    /// <inheritdoc/>
    public string? TargetHostName => IsHandshakeComplete && !string.IsNullOrEmpty(_ssl.TargetHostName) ? _ssl.TargetHostName : null;

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            _ssl.Dispose();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
        }

        if (_plain is not null && !_readOutstanding)
        {
            ArrayPool<byte>.Shared.Return(_plain);
        }

        // A read still outstanding may yet write into its buffer: leave that one to the collector.
        _plain = null;
        _plainStart = _plainEnd = 0;
    }
}
