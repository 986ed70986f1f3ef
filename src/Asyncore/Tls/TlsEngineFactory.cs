using System.Net.Security;

namespace Asyncore.Tls;

/// <summary>
/// The one place that picks a TLS engine for a channel. Each source below is asked in order and the
/// first that can serve the options wins; <see cref="SslStreamEngine"/> serves everything .NET does and
/// is the last, so there is always one. A faster engine (OpenSSL's memory BIOs) joins the list ahead of
/// it where it is available.
/// </summary>
internal static class TlsEngineFactory
{
    /// <summary>Engines tried before the SslStream one; each answers null when it cannot serve the options.</summary>
    internal static readonly List<Func<SslServerAuthenticationOptions, ITlsEngine?>> ServerSources = new();

    /// <summary>Engines tried before the SslStream one for client sessions.</summary>
    internal static readonly List<Func<SslClientAuthenticationOptions, ITlsEngine?>> ClientSources = new();

    /// <summary>A server session for <paramref name="options"/>.</summary>
    internal static ITlsEngine CreateServer(SslServerAuthenticationOptions options)
    {
        foreach (Func<SslServerAuthenticationOptions, ITlsEngine?> source in ServerSources)
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
        foreach (Func<SslClientAuthenticationOptions, ITlsEngine?> source in ClientSources)
        {
            if (source(options) is { } engine)
            {
                return engine;
            }
        }

        return SslStreamEngine.CreateClient(options);
    }
}
