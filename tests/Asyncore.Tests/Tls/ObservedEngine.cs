using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Asyncore.Tls;

namespace Asyncore.Tests.Tls;

/// <summary>An engine that records every call made into it (and the thread it came on), then passes it on.</summary>
internal sealed class ObservedEngine(ITlsEngine inner, Action<string> record) : ITlsEngine
{
    public ITlsEngine Inner => inner;

    public bool IsHandshakeComplete => inner.IsHandshakeComplete;

    public int PendingOutput => inner.PendingOutput;

    public int PendingPlaintext => inner.PendingPlaintext;

    public SslProtocols Protocol => inner.Protocol;

    public TlsCipherSuite CipherSuite => inner.CipherSuite;

    public SslApplicationProtocol ApplicationProtocol => inner.ApplicationProtocol;

    public X509Certificate2? RemoteCertificate => inner.RemoteCertificate;

    public string? TargetHostName => inner.TargetHostName;

    public TlsStatus Handshake()
    {
        record("engine handshake");
        return inner.Handshake();
    }

    public void FeedInput(ReadOnlySpan<byte> ciphertext)
    {
        record("engine feed");
        inner.FeedInput(ciphertext);
    }

    public int TakeOutput(Span<byte> destination)
    {
        record("engine take");
        return inner.TakeOutput(destination);
    }

    public TlsStatus Read(Span<byte> destination, out int read)
    {
        record("engine read");
        return inner.Read(destination, out read);
    }

    public TlsStatus Write(ReadOnlySpan<byte> source, out int written)
    {
        record("engine write");
        return inner.Write(source, out written);
    }

    public void Shutdown()
    {
        record("engine shutdown");
        inner.Shutdown();
    }

    public void Dispose()
    {
        record("engine dispose");
        inner.Dispose();
    }
}
