namespace Asyncore.Samples.Smtp;

/// <summary>The SMTP sample's limits and names.</summary>
public sealed class SmtpServerOptions
{
    /// <summary>CPython's smtpd.DATA_SIZE_DEFAULT: 32 MiB.</summary>
    public const int DefaultDataSizeLimit = 33_554_432;

    /// <summary>Postfix's smtpd_recipient_limit.</summary>
    public const int DefaultMaxRecipients = 1000;

    /// <summary>Postfix's smtpd_timeout: 300 seconds.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(300);

    /// <summary>The largest message in bytes, announced with SIZE (552 above it); 0 for no limit.</summary>
    public int DataSizeLimit { get; init; } = DefaultDataSizeLimit;

    /// <summary>Recipients per message; the next RCPT gets 452, as RFC 5321 4.5.3.1.10 asks.</summary>
    public int MaxRecipients { get; init; } = DefaultMaxRecipients;

    /// <summary>
    /// How long a client may stay silent, and how long one line (a command or a line of DATA) may take
    /// to arrive once started; then 421 and the connection is closed. Null: wait forever.
    /// </summary>
    public TimeSpan? Timeout { get; init; } = DefaultTimeout;

    /// <summary>The name the server gives in its greeting and HELO answer.</summary>
    public string Hostname { get; init; } = Environment.MachineName;

    /// <summary>Reading pauses while more than this many bytes of replies wait to be sent (a client that pipelines and never reads).</summary>
    public long? HighWaterMark { get; init; } = 64 * 1024;

    /// <summary>A client whose unsent replies pass this many bytes is disconnected.</summary>
    public long? OutputHardLimit { get; init; } = 1024 * 1024;

    /// <summary>Called after each message was stored, with its envelope, its size and the name the store gave it.</summary>
    public Action<SmtpEnvelope, long, string>? Delivered { get; init; }

    /// <summary>When set, EHLO announces STARTTLS and the command switches the connection to TLS (RFC 3207).</summary>
    public System.Net.Security.SslServerAuthenticationOptions? Tls { get; init; }

    /// <summary>MAIL before STARTTLS is answered 530 (Postfix's smtpd_tls_security_level = encrypt). Needs <see cref="Tls"/>.</summary>
    public bool RequireTls { get; init; }
}
