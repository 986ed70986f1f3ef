using System.Net.Security;
using Asyncore.Tls.OpenSsl;

namespace Asyncore.Tls;

/// <summary>
/// The one place that picks a TLS engine for a channel. Each source is asked in order and the first
/// that can serve the options wins; <see cref="SslStreamEngine"/> serves everything .NET does and comes
/// last, so there is always one. Where libssl.so.3 (OpenSSL 1.1.1 or later) loads, OpenSSL's memory-BIO
/// engine comes first: measured side by side with nginx (two passes) it costs 0.99x nginx's CPU per request
/// and 0.98x per full handshake where SslStream costs 1.08x and 1.93x (docs/benchmarks.md). Options it cannot honour
/// fall back to SslStream. The lists are copied on change, so a loop thread reads them without a lock.
/// </summary>
internal static class TlsEngineFactory
{
    private static readonly object s_gate = new();
    private static Func<SslServerAuthenticationOptions, ITlsEngine?>[] s_server = [];
    private static Func<SslClientAuthenticationOptions, ITlsEngine?>[] s_client = [];
    private static readonly bool s_openSsl;

    /// <summary>
    /// The environment variable that picks the engine for the whole process: <c>sslstream</c> uses SslStream
    /// alone; unset or <c>openssl</c>, OpenSSL's memory BIOs come first where libssl.so.3 loads.
    /// </summary>
    internal const string EngineVariable = "ASYNCORE_TLS_ENGINE";

    static TlsEngineFactory()
    {
        string? choice = Environment.GetEnvironmentVariable(EngineVariable);
        if (!string.Equals(choice, "sslstream", StringComparison.OrdinalIgnoreCase) && OpenSslEngine.IsAvailable)
        {
            s_openSsl = true;
        }
    }

    /// <summary>The engine sessions get unless a source added later says otherwise: <c>openssl</c> or <c>sslstream</c>.</summary>
    internal static string DefaultEngineName => s_openSsl ? "openssl" : "sslstream";

    // Options OpenSSL cannot honour (an unknown cipher suite, SSL 3) fall back to SslStream rather than fail.
    private static ITlsEngine? OpenSslServer(SslServerAuthenticationOptions options, object sender)
    {
        try
        {
            return new OpenSslEngine(options, sender);
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    private static ITlsEngine? OpenSslClient(SslClientAuthenticationOptions options, object sender)
    {
        try
        {
            return new OpenSslEngine(options, sender);
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    /// <summary>Puts a server engine source ahead of the others; it answers null for options it cannot serve.</summary>
    internal static void AddServerSource(Func<SslServerAuthenticationOptions, ITlsEngine?> source)
    {
        lock (s_gate)
        {
            s_server = [source, .. s_server];
        }
    }

    /// <summary>Takes a server engine source out.</summary>
    internal static void RemoveServerSource(Func<SslServerAuthenticationOptions, ITlsEngine?> source)
    {
        lock (s_gate)
        {
            s_server = s_server.Where(s => s != source).ToArray();
        }
    }

    /// <summary>Puts a client engine source ahead of the others; it answers null for options it cannot serve.</summary>
    internal static void AddClientSource(Func<SslClientAuthenticationOptions, ITlsEngine?> source)
    {
        lock (s_gate)
        {
            s_client = [source, .. s_client];
        }
    }

    /// <summary>Takes a client engine source out.</summary>
    internal static void RemoveClientSource(Func<SslClientAuthenticationOptions, ITlsEngine?> source)
    {
        lock (s_gate)
        {
            s_client = s_client.Where(s => s != source).ToArray();
        }
    }

    /// <summary>A server session for <paramref name="options"/>; <paramref name="sender"/> is what the OpenSSL engine hands the validation callback.</summary>
    internal static ITlsEngine CreateServer(SslServerAuthenticationOptions options, object sender)
    {
        foreach (Func<SslServerAuthenticationOptions, ITlsEngine?> source in Volatile.Read(ref s_server))
        {
            if (source(options) is { } engine)
            {
                return engine;
            }
        }

        return (s_openSsl ? OpenSslServer(options, sender) : null) ?? SslStreamEngine.CreateServer(options);
    }

    /// <summary>A client session for <paramref name="options"/>; <paramref name="sender"/> is what the OpenSSL engine hands the validation callback.</summary>
    internal static ITlsEngine CreateClient(SslClientAuthenticationOptions options, object sender)
    {
        foreach (Func<SslClientAuthenticationOptions, ITlsEngine?> source in Volatile.Read(ref s_client))
        {
            if (source(options) is { } engine)
            {
                return engine;
            }
        }

        return (s_openSsl ? OpenSslClient(options, sender) : null) ?? SslStreamEngine.CreateClient(options);
    }
}
