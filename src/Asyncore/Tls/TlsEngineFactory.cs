using System.Net.Security;
using Asyncore.Tls.OpenSsl;

namespace Asyncore.Tls;

/// <summary>
/// The one place that picks a TLS engine for a channel. Each source is asked in order and the first
/// that can serve the options wins; <see cref="SslStreamEngine"/> serves everything .NET does and comes
/// last, so there is always one. A faster engine (OpenSSL's memory BIOs) is added ahead of it where it
/// is available. The lists are copied on change, so a loop thread reads them without a lock.
/// </summary>
internal static class TlsEngineFactory
{
    private static readonly object s_gate = new();
    private static Func<SslServerAuthenticationOptions, ITlsEngine?>[] s_server = [];
    private static Func<SslClientAuthenticationOptions, ITlsEngine?>[] s_client = [];

    /// <summary>
    /// The environment variable that picks the engine for the whole process: <c>openssl</c> puts OpenSSL's
    /// memory BIOs first (where libssl.so.3 loads; SslStream still serves what OpenSSL cannot),
    /// <c>sslstream</c> uses SslStream alone. Unset, the default engine serves.
    /// </summary>
    internal const string EngineVariable = "ASYNCORE_TLS_ENGINE";

    static TlsEngineFactory()
    {
        string? choice = Environment.GetEnvironmentVariable(EngineVariable);
        if (string.Equals(choice, "openssl", StringComparison.OrdinalIgnoreCase) && OpenSslEngine.IsAvailable)
        {
            s_server = [OpenSslServer];
            s_client = [OpenSslClient];
            DefaultEngineName = "openssl";
        }
    }

    /// <summary>The engine the process runs by default or by <see cref="EngineVariable"/>, for logs and benchmarks.</summary>
    internal static string DefaultEngineName { get; private set; } = "sslstream";

    // Options OpenSSL cannot honour (an unknown cipher suite, SSL 3) fall back to SslStream rather than fail.
    private static ITlsEngine? OpenSslServer(SslServerAuthenticationOptions options)
    {
        try
        {
            return new OpenSslEngine(options);
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    private static ITlsEngine? OpenSslClient(SslClientAuthenticationOptions options)
    {
        try
        {
            return new OpenSslEngine(options);
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

    /// <summary>A server session for <paramref name="options"/>.</summary>
    internal static ITlsEngine CreateServer(SslServerAuthenticationOptions options)
    {
        foreach (Func<SslServerAuthenticationOptions, ITlsEngine?> source in Volatile.Read(ref s_server))
        {
            if (source(options) is { } engine)
            {
                return engine;
            }
        }

        return SslStreamEngine.CreateServer(options);
    }

    /// <summary>A client session for <paramref name="options"/>.</summary>
    internal static ITlsEngine CreateClient(SslClientAuthenticationOptions options)
    {
        foreach (Func<SslClientAuthenticationOptions, ITlsEngine?> source in Volatile.Read(ref s_client))
        {
            if (source(options) is { } engine)
            {
                return engine;
            }
        }

        return SslStreamEngine.CreateClient(options);
    }
}
