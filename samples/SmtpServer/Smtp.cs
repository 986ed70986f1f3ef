using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore;

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

/// <summary>Listens and makes an <see cref="SmtpChannel"/> per connection; messages go to <see cref="Store"/>.</summary>
public sealed class SmtpServer : Dispatcher
{
    public SmtpServer(EndPoint address, IMessageStore store, SmtpServerOptions? options = null, SocketMap? map = null)
        : base(null, map)
    {
        Store = store;
        Options = options ?? new SmtpServerOptions();
        CreateSocket(address.AddressFamily);
        SetReuseAddr();
        Bind(address);
        Listen(128);
    }

    public IMessageStore Store { get; }

    public SmtpServerOptions Options { get; }

    public EndPoint Address => Socket!.LocalEndPoint!;

    protected override void HandleAccepted(Socket socket, EndPoint address) => _ = new SmtpChannel(this, socket, address, Map);
}

/// <summary>
/// One SMTP session, in the manner of CPython's smtpd.SMTPChannel (HELO/EHLO, MAIL FROM, RCPT TO,
/// DATA, RSET, NOOP, QUIT, VRFY, HELP, EXPN; SIZE and 8BITMIME announced) with a mail server's
/// front-door rules: commands are lines ended by "\r\n" or a lone "\n". DATA reads line by line with
/// "\r\n" as the terminator, so the end of data is a line holding only "." after a CRLF (the first
/// line right after DATA included): a lone LF or CR inside the data stays data and cannot end it.
/// Each line is dot-unstuffed and streamed to the store as it arrives, so memory stays flat
/// whatever the message size.
/// </summary>
public sealed class SmtpChannel : AsyncChat
{
    private const int CommandSizeLimit = 512;
    private const int ExtendedCommandSizeLimit = CommandSizeLimit + 26; // room for SIZE=, as smtpd allows
    private static readonly Terminator CommandLine = Terminator.FromBytes("\n"u8);
    private static readonly Terminator DataLine = Terminator.FromBytes("\r\n"u8);
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);

    private readonly SmtpServer _server;
    private readonly SmtpServerOptions _options;
    private readonly EndPoint _peer;

    // The command line: kept up to the limit (and its "\r"), only counted beyond it.
    private readonly byte[] _command = new byte[ExtendedCommandSizeLimit + 1];
    private int _commandLength;
    private long _commandBytes;

    // The transaction.
    private bool _seenGreeting;
    private bool _extended;
    private string? _mailFrom;
    private List<string> _rcptTos = new();
    private IReadOnlyList<string> _mailOptions = [];

    // DATA.
    private bool _inData;
    private IMessageWriter? _writer;
    private long _dataBytes;
    private bool _tooBig;
    private bool _failed;
    private long _lineBytes;   // bytes of the current data line so far (a leading dot included)
    private bool _dotLine;     // the line began with a dot, which was dropped

    private bool _closing;     // QUIT or a timeout was answered: the rest of the input is ignored

    public SmtpChannel(SmtpServer server, Socket socket, EndPoint peer, SocketMap map) : base(socket, map)
    {
        _server = server;
        _options = server.Options;
        _peer = peer;
        SetTerminator(CommandLine);
        HighWaterMark = _options.HighWaterMark;
        OutputHardLimit = _options.OutputHardLimit;
        if (_options.Timeout is { } timeout)
        {
            IdleTimeout = timeout;
            MessageTimeout = timeout;
        }

        Reply($"220 {_options.Hostname} Asyncore SMTP");
    }

    private int CommandLimit => _extended ? ExtendedCommandSizeLimit : CommandSizeLimit;

    private void Reply(string line) => Push(Encoding.UTF8.GetBytes(line + "\r\n"));

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        if (_closing)
        {
            return;
        }

        if (_inData)
        {
            CollectData(data);
            return;
        }

        _commandBytes += data.Length;
        int n = Math.Min(data.Length, _command.Length - _commandLength);
        data[..n].CopyTo(_command.AsSpan(_commandLength));
        _commandLength += n;
    }

    /// <summary>RFC 5321 4.5.2: a line's leading dot is dropped; a line of only "." ends the data.</summary>
    private void CollectData(ReadOnlySpan<byte> data)
    {
        if (_lineBytes == 0 && data[0] == (byte)'.')
        {
            _dotLine = true;
            _lineBytes = 1;
            data = data[1..];
        }

        _lineBytes += data.Length;
        WriteData(data);
    }

    private void WriteData(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return;
        }

        _dataBytes += data.Length;
        if (_options.DataSizeLimit > 0 && _dataBytes > _options.DataSizeLimit && !_tooBig)
        {
            _tooBig = true; // read on to the end of data, keeping nothing, then 552
            AbortMessage();
        }

        if (_writer is null)
        {
            return;
        }

        try
        {
            _writer.Write(data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogInfo($"storing a message failed: {e.Message}", "error");
            _failed = true;
            AbortMessage();
        }
    }

    protected override void FoundTerminator()
    {
        if (_closing)
        {
            return;
        }

        if (_inData)
        {
            if (_dotLine && _lineBytes == 1)
            {
                EndOfData();
            }
            else
            {
                WriteData("\r\n"u8);
            }

            _lineBytes = 0;
            _dotLine = false;
            return;
        }

        ReadOnlySpan<byte> line = _command.AsSpan(0, _commandLength);
        long size = _commandBytes;
        _commandLength = 0;
        _commandBytes = 0;
        if (line.EndsWith("\r"u8))
        {
            line = line[..^1]; // "\r\n"; a lone "\n" ends a command line too
            size--;
        }

        Command(line, size);
    }

    private void EndOfData()
    {
        _inData = false;
        SetTerminator(CommandLine);
        string status;
        if (_tooBig)
        {
            status = "552 Error: Too much mail data";
        }
        else if (_failed || _writer is null)
        {
            status = "451 Requested action aborted: local error in processing";
        }
        else
        {
            string? name = null;
            try
            {
                name = _writer.Commit();
                status = "250 OK";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogInfo($"storing a message failed: {e.Message}", "error");
                status = "451 Requested action aborted: local error in processing";
            }

            _writer = null;
            if (name is not null)
            {
                _options.Delivered?.Invoke(Envelope(), _dataBytes, name);
            }
        }

        AbortMessage();
        Reset();
        Reply(status);
        if (Draining)
        {
            ShuttingDown(); // the message was answered; now the goodbye
        }
    }

    private SmtpEnvelope Envelope() => new(_peer, _mailFrom!, _rcptTos.ToArray(), _mailOptions);

    /// <summary>Drops a message being received (no-op when there is none).</summary>
    private void AbortMessage()
    {
        _writer?.Abort();
        _writer = null;
    }

    private void Reset()
    {
        _mailFrom = null;
        _rcptTos = _rcptTos.Count > 64 ? new() : _rcptTos; // a list grown for many recipients is given back
        _rcptTos.Clear();
        _mailOptions = [];
    }

    /// <summary>Silent for too long, or a line that never ends: 421, then the connection closes.</summary>
    protected override void HandleIdle() => TimedOut();

    protected override void HandleMessageTimeout() => TimedOut();

    private void TimedOut()
    {
        if (_closing)
        {
            Close();
            return;
        }

        LogInfo($"{_peer}: timeout, closing", "info");
        AbortMessage();
        _closing = true;
        SetTerminator(null);
        Reply($"421 4.4.2 {_options.Hostname} Error: timeout exceeded");
        CloseWhenDone();

        // A client that does not read may never take the 421: close anyway after a moment.
        Map.CallLater(CloseGrace, () =>
        {
            if (Fileno >= 0)
            {
                Close();
            }
        });
    }

    /// <summary>
    /// The server is stopping (SIGTERM): a message being received is finished and answered first,
    /// then, as at any other point of the session, "421 Service shutting down" (RFC 5321 3.8) and the
    /// connection closes after it. A client that was told 421 keeps its mail and tries again later.
    /// </summary>
    protected override void HandleDrain()
    {
        if (!_inData)
        {
            ShuttingDown();
        }
    }

    /// <summary>Between messages, and nothing left to send: a stopping server may close the session now.</summary>
    public override bool IsIdle => base.IsIdle && !_inData;

    private void ShuttingDown()
    {
        if (_closing)
        {
            return;
        }

        AbortMessage();
        _closing = true;
        SetTerminator(null);
        Reply($"421 4.3.2 {_options.Hostname} Service shutting down, closing transmission channel");
        CloseWhenDone();
    }

    /// <summary>Closing with a message half received drops it: nothing partial is ever stored.</summary>
    public override void Close()
    {
        AbortMessage();
        base.Close();
    }

    private void Command(ReadOnlySpan<byte> raw, long size)
    {
        if (raw.IsEmpty && size == 0)
        {
            Reply("500 Error: bad syntax");
            return;
        }

        if (size > CommandLimit)
        {
            Reply("500 Error: line too long");
            return;
        }

        string line;
        try
        {
            line = new UTF8Encoding(false, true).GetString(raw);
        }
        catch (DecoderFallbackException)
        {
            Reply("500 Error: bad syntax");
            return;
        }

        int sp = line.IndexOf(' ');
        string command = (sp < 0 ? line : line[..sp]).ToUpperInvariant();
        string? arg = sp < 0 ? null : line[(sp + 1)..].Trim(' ');
        switch (command)
        {
            case "HELO": Helo(arg, extended: false); break;
            case "EHLO": Helo(arg, extended: true); break;
            case "NOOP": Reply(arg is null ? "250 OK" : "501 Syntax: NOOP"); break;
            case "QUIT":
                Reply("221 Bye");
                _closing = true;
                SetTerminator(null);
                CloseWhenDone();
                break;
            case "RSET":
                if (arg is not null)
                {
                    Reply("501 Syntax: RSET");
                    break;
                }

                Reset();
                Reply("250 OK");
                break;
            case "VRFY":
                Reply(arg is null || HasControl(arg) ? "501 Syntax: VRFY <address>"
                    : ParseAddress(arg, AddressKind.Recipient, out _) is not null ? "252 Cannot VRFY user, but will accept message and attempt delivery"
                    : $"502 Could not VRFY {arg}");
                break;
            case "EXPN": Reply("502 EXPN not implemented"); break;
            case "HELP": Reply("250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY" + (_options.Tls is null ? "" : " STARTTLS")); break;
            case "MAIL": Mail(arg); break;
            case "RCPT": Rcpt(arg); break;
            case "DATA": Data(arg); break;
            case "STARTTLS" when _options.Tls is not null: StartTls(arg); break;
            default: Reply($"500 Error: command \"{Printable(command)}\" not recognized"); break;
        }
    }

    private void Helo(string? arg, bool extended)
    {
        string name = extended ? "EHLO" : "HELO";
        if (string.IsNullOrEmpty(arg) || HasControl(arg))
        {
            Reply($"501 Syntax: {name} hostname");
            return;
        }

        if (_seenGreeting)
        {
            Reply("503 Duplicate HELO/EHLO");
            return;
        }

        _seenGreeting = true;
        _extended = extended;
        Reset();
        if (!extended)
        {
            Reply($"250 {_options.Hostname}");
            return;
        }

        Reply($"250-{_options.Hostname}");
        if (_options.DataSizeLimit > 0)
        {
            Reply($"250-SIZE {_options.DataSizeLimit}");
        }

        Reply("250-8BITMIME");
        if (_options.Tls is not null && !IsTls)
        {
            Reply("250-STARTTLS");
        }

        Reply("250 HELP");
    }

    /// <summary>
    /// RFC 3207: "220 Ready", then TLS. The switch drops whatever the client sent behind the command in
    /// the clear (it could only be an injection, CVE-2011-0411), and everything learnt from the client
    /// before it (the EHLO, a transaction) is forgotten: the client starts again with EHLO.
    /// </summary>
    private void StartTls(string? arg)
    {
        if (arg is not null)
        {
            Reply("501 5.5.4 Syntax: STARTTLS");
            return;
        }

        if (IsTls)
        {
            Reply("554 5.5.1 Error: TLS already active");
            return;
        }

        if (_mailFrom is not null)
        {
            Reply("503 5.5.1 Error: MAIL transaction in progress");
            return;
        }

        Reply("220 2.0.0 Ready to start TLS");
        _seenGreeting = false;
        _extended = false;
        Reset();
        StartTls(_options.Tls!, sendQueuedInClear: true); // the 220 reply above goes out in the clear, as RFC 3207 says
    }

    protected override void HandleTlsHandshakeFailed(Exception error) =>
        LogInfo($"{_peer}: TLS handshake failed: {error.Message}", "info");

    private void Mail(string? arg)
    {
        if (!_seenGreeting)
        {
            Reply("503 Error: send HELO first");
            return;
        }

        if (_options.RequireTls && !IsTls)
        {
            Reply("530 5.7.0 Must issue a STARTTLS command first");
            return;
        }

        string syntax = "501 Syntax: MAIL FROM: <address>" + (_extended ? " [SP <mail-parameters>]" : "");
        if (arg is null || !arg.StartsWith("FROM:", StringComparison.OrdinalIgnoreCase)
            || ParseAddress(arg[5..], AddressKind.Sender, out string rest) is not { } address || HasControl(rest))
        {
            Reply(syntax);
            return;
        }

        if (!_extended && rest.Length > 0)
        {
            Reply(syntax);
            return;
        }

        if (_mailFrom is not null)
        {
            Reply("503 Error: nested MAIL command");
            return;
        }

        List<string> options = rest.ToUpperInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        var parameters = new Dictionary<string, string?>();
        foreach (string option in options)
        {
            int eq = option.IndexOf('=');
            string key = eq < 0 ? option : option[..eq];
            string? value = eq < 0 ? null : option[(eq + 1)..];
            if (key.Length == 0 || !key.All(char.IsAsciiLetterOrDigit) || value == string.Empty)
            {
                Reply(syntax);
                return;
            }

            parameters[key] = value;
        }

        if (parameters.Remove("BODY", out string? body) && body is not ("7BIT" or "8BITMIME"))
        {
            Reply("501 Error: BODY can only be one of 7BIT, 8BITMIME");
            return;
        }

        if (parameters.Remove("SIZE", out string? sizeText))
        {
            if (sizeText is null || !long.TryParse(sizeText, out long size) || size < 0)
            {
                Reply(syntax);
                return;
            }

            if (_options.DataSizeLimit > 0 && size > _options.DataSizeLimit)
            {
                Reply("552 Error: message size exceeds fixed maximum message size");
                return;
            }
        }

        if (parameters.Count > 0)
        {
            Reply("555 MAIL FROM parameters not recognized or not implemented");
            return;
        }

        _mailFrom = address;
        _mailOptions = options;
        Reply("250 OK");
    }

    private void Rcpt(string? arg)
    {
        if (!_seenGreeting)
        {
            Reply("503 Error: send HELO first");
            return;
        }

        if (_mailFrom is null)
        {
            Reply("503 Error: need MAIL command");
            return;
        }

        string syntax = "501 Syntax: RCPT TO: <address>" + (_extended ? " [SP <mail-parameters>]" : "");
        if (arg is null || !arg.StartsWith("TO:", StringComparison.OrdinalIgnoreCase)
            || ParseAddress(arg[3..], AddressKind.Recipient, out string rest) is not { } address || HasControl(rest))
        {
            Reply(syntax);
            return;
        }

        if (rest.Length > 0)
        {
            Reply(_extended ? "555 RCPT TO parameters not recognized or not implemented" : syntax);
            return;
        }

        if (_rcptTos.Count >= _options.MaxRecipients)
        {
            Reply("452 4.5.3 Error: too many recipients");
            return;
        }

        _rcptTos.Add(address);
        Reply("250 OK");
    }

    private void Data(string? arg)
    {
        if (!_seenGreeting)
        {
            Reply("503 Error: send HELO first");
            return;
        }

        if (_rcptTos.Count == 0)
        {
            Reply("503 Error: need RCPT command");
            return;
        }

        if (arg is not null)
        {
            Reply("501 Syntax: DATA");
            return;
        }

        try
        {
            _writer = _server.Store.Begin(Envelope());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogInfo($"storing a message failed: {e.Message}", "error");
            Reset();
            Reply("451 Requested action aborted: local error in processing");
            return;
        }

        _inData = true;
        _dataBytes = 0;
        _tooBig = false;
        _failed = false;
        _lineBytes = 0;
        _dotLine = false;
        SetTerminator(DataLine);
        Reply("354 End data with <CR><LF>.<CR><LF>");
    }

    private enum AddressKind
    {
        Sender,
        Recipient,
    }

    /// <summary>
    /// An address in angle brackets or a bare addr-spec; the rest of the line goes to <paramref name="rest"/>.
    /// A sender may be empty ("&lt;&gt;", the null reverse-path of bounces); a recipient may be a bare
    /// "postmaster" (RFC 5321 4.5.1); a source route ("@relay:") is accepted and dropped (4.1.2).
    /// Control characters (CR and LF included) make it invalid: such an address is never stored or logged.
    /// </summary>
    private static string? ParseAddress(string text, AddressKind kind, out string rest)
    {
        text = text.TrimStart(' ');
        rest = string.Empty;
        string address;
        bool bracketed = text.StartsWith('<');
        if (bracketed)
        {
            int close = text.IndexOf('>');
            if (close < 0)
            {
                return null;
            }

            address = text[1..close];
            rest = text[(close + 1)..].Trim(' ');
        }
        else
        {
            int sp = text.IndexOf(' ');
            address = sp < 0 ? text : text[..sp];
            rest = sp < 0 ? string.Empty : text[(sp + 1)..].Trim(' ');
        }

        if (HasControl(address) || address.Length > 256)
        {
            return null;
        }

        if (address.StartsWith('@'))
        {
            int colon = address.IndexOf(':');
            if (colon < 0)
            {
                return null;
            }

            address = address[(colon + 1)..];
        }

        if (address.Length == 0)
        {
            return kind == AddressKind.Sender && bracketed ? string.Empty : null;
        }

        if (kind == AddressKind.Recipient && address.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            return address;
        }

        int at = address.LastIndexOf('@');
        bool ok = at > 0 && at < address.Length - 1 && address.IndexOfAny([' ', '<', '>', '\t']) < 0;
        return ok ? address : null;
    }

    private static bool HasControl(string text) => text.Any(char.IsControl);

    private static string Printable(string text) => string.Concat(text.Select(c => char.IsControl(c) ? '?' : c));
}
