using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Asyncore.Tls;

/// <summary>What a TLS engine step asks of its caller next.</summary>
internal enum TlsStatus
{
    /// <summary>The step made progress (bytes were produced or consumed, or the handshake finished).</summary>
    Ok,
    /// <summary>The engine needs more ciphertext from the peer before it can go on.</summary>
    WantRead,
    /// <summary>The engine has ciphertext to send (<see cref="ITlsEngine.PendingOutput"/>) before it can go on.</summary>
    WantWrite,
    /// <summary>The peer sent close_notify: no more plaintext will come.</summary>
    Closed,
}

/// <summary>
/// A TLS session driven entirely by its caller, in the manner of OpenSSL's memory BIOs and Python's
/// <c>ssl.SSLObject</c>: the loop feeds ciphertext read from the socket with <see cref="FeedInput"/>,
/// takes ciphertext to send with <see cref="TakeOutput"/>, and moves plaintext with <see cref="Read"/> and
/// <see cref="Write"/>. An engine never touches a socket, never blocks and never leaves the calling thread.
/// </summary>
/// <remarks>
/// Errors (bad records, a failed handshake, certificate rejection) are thrown as
/// <see cref="AuthenticationException"/> or <see cref="System.IO.IOException"/>; the session is unusable after.
/// </remarks>
internal interface ITlsEngine : IDisposable
{
    /// <summary>Whether the handshake has completed.</summary>
    bool IsHandshakeComplete { get; }

    /// <summary>Advances the handshake as far as the ciphertext fed so far allows.</summary>
    TlsStatus Handshake();

    /// <summary>Gives the engine ciphertext received from the peer; the engine keeps all of it.</summary>
    void FeedInput(ReadOnlySpan<byte> ciphertext);

    /// <summary>Ciphertext bytes waiting to be sent to the peer.</summary>
    int PendingOutput { get; }

    /// <summary>Copies up to <paramref name="destination"/>.Length bytes of ciphertext to send and removes them.</summary>
    int TakeOutput(Span<byte> destination);

    /// <summary>
    /// Decrypts into <paramref name="destination"/>. <see cref="TlsStatus.Ok"/> with <paramref name="read"/> &gt; 0
    /// when plaintext was produced; <see cref="TlsStatus.WantRead"/> when a whole record is not there yet;
    /// <see cref="TlsStatus.Closed"/> after the peer's close_notify.
    /// </summary>
    TlsStatus Read(Span<byte> destination, out int read);

    /// <summary>Plaintext already decrypted and held by the engine, readable without new ciphertext.</summary>
    int PendingPlaintext { get; }

    /// <summary>Encrypts all of <paramref name="source"/> into the output (records of at most 16 KiB).</summary>
    TlsStatus Write(ReadOnlySpan<byte> source, out int written);

    /// <summary>Queues close_notify in the output.</summary>
    void Shutdown();

    /// <summary>The negotiated protocol version, once the handshake is complete.</summary>
    SslProtocols Protocol { get; }

    /// <summary>The negotiated cipher suite, once the handshake is complete.</summary>
    TlsCipherSuite CipherSuite { get; }

    /// <summary>The ALPN protocol chosen, or default when none.</summary>
    SslApplicationProtocol ApplicationProtocol { get; }

    /// <summary>The peer's certificate, if it sent one.</summary>
    X509Certificate2? RemoteCertificate { get; }

    /// <summary>The server name the client asked for (SNI), on a server session.</summary>
    string? TargetHostName { get; }
}
