using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Reactor;

namespace Asyncore.Tls;

/// <summary>
/// A channel's TLS state: the engine, the ciphertext the socket did not take yet, the plaintext bytes
/// still owed to the peer from before the switch (STARTTLS's own answer), the handshake's deadline and
/// input budget, and what the handshake negotiated (kept after the engine is gone, for logging in
/// <see cref="Dispatcher.HandleClose"/>).
/// </summary>
internal sealed class TlsSession
{
    /// <summary>The most ciphertext a handshake may bring before it completes: a client that never finishes costs at most this.</summary>
    internal const int MaxHandshakeInput = 128 * 1024;

    internal TlsSession(ITlsEngine engine, long plaintextOwed)
    {
        Engine = engine;
        PlaintextOwed = plaintextOwed;
    }

    internal readonly ITlsEngine Engine;

    /// <summary>Ciphertext taken from the engine that the socket did not take yet.</summary>
    internal readonly ByteQueue Unsent = new();

    /// <summary>Plaintext bytes queued before the switch that still go out as they are, ahead of any record.</summary>
    internal long PlaintextOwed;

    /// <summary>Ciphertext fed while the handshake ran.</summary>
    internal long HandshakeInput;

    /// <summary>The handshake finished and the channel was told.</summary>
    internal bool Established;

    /// <summary>close_notify was queued (or the session failed): no more records are written.</summary>
    internal bool ShutdownSent;

    /// <summary>The engine was disposed with the channel's close.</summary>
    internal bool Ended;

    /// <summary>The channel should be read again once it reports itself readable: the engine may hold plaintext.</summary>
    internal bool RereadWhenReadable;

    internal Deadline? HandshakeDeadline;
    internal Deadline? Reread;

    internal SslProtocols Protocol;
    internal TlsCipherSuite CipherSuite;
    internal SslApplicationProtocol ApplicationProtocol;
    internal X509Certificate2? RemoteCertificate;
    internal string? ServerName;

    /// <summary>Ciphertext waiting to be sent, here or in the engine.</summary>
    internal bool OutputPending => !Ended && (Unsent.Count > 0 || Engine.PendingOutput > 0);

    /// <summary>Records the negotiated parameters when the handshake completes.</summary>
    internal void CaptureNegotiated()
    {
        Protocol = Engine.Protocol;
        CipherSuite = Engine.CipherSuite;
        ApplicationProtocol = Engine.ApplicationProtocol;
        RemoteCertificate = Engine.RemoteCertificate;
        ServerName = Engine.TargetHostName;
    }

    /// <summary>Ends the session: the engine and its buffers go, the deadlines leave the heap.</summary>
    internal void End()
    {
        if (Ended)
        {
            return;
        }

        Ended = true;
        HandshakeDeadline?.Clear();
        Reread?.Clear();
        RereadWhenReadable = false;
        Unsent.Clear();
        Engine.Dispose();
    }
}
