using System.Text;

namespace Asyncore.Samples.Smtp;

/// <summary>The SMTP commands: one method each, replying as CPython's smtpd (and Postfix where smtpd is silent) does.</summary>
public sealed partial class SmtpChannel
{
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
        LogInfo($"{PeerText}: TLS handshake failed: {LogEscape.Escape(error.Message)}", "info");

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
}
