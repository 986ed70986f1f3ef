using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore;

namespace Asyncore.Samples.Smtp;

/// <summary>One received message: the envelope and the data, dot-unstuffed, CRLF line ends kept.</summary>
public sealed record SmtpMessage(EndPoint Peer, string MailFrom, IReadOnlyList<string> RcptTos, byte[] Data, IReadOnlyList<string> MailOptions);

/// <summary>
/// Listens and makes an <see cref="SmtpChannel"/> per connection; every complete message goes to
/// <see cref="Deliver"/>, whose answer (null for "250 OK") is sent back (smtpd.SMTPServer.process_message).
/// </summary>
public sealed class SmtpServer : Dispatcher
{
    /// <summary>CPython's smtpd.DATA_SIZE_DEFAULT: 32 MiB.</summary>
    public const int DefaultDataSizeLimit = 33_554_432;

    public SmtpServer(EndPoint address, Func<SmtpMessage, string?> deliver, int dataSizeLimit = DefaultDataSizeLimit, SocketMap? map = null)
        : base(null, map)
    {
        Deliver = deliver;
        DataSizeLimit = dataSizeLimit;
        CreateSocket(address.AddressFamily);
        SetReuseAddr();
        Bind(address);
        Listen(128);
    }

    public Func<SmtpMessage, string?> Deliver { get; }

    public int DataSizeLimit { get; }

    /// <summary>The name the server gives in its greeting and HELO answer.</summary>
    public string Hostname { get; init; } = Environment.MachineName;

    public EndPoint Address => Socket!.LocalEndPoint!;

    protected override void HandleAccepted(Socket socket, EndPoint address) => _ = new SmtpChannel(this, socket, address, Map);
}

/// <summary>
/// One SMTP session, in the manner of CPython's smtpd.SMTPChannel: commands are lines ("\r\n"
/// terminator); DATA switches the terminator to "\r\n.\r\n" and back. HELO/EHLO, MAIL FROM,
/// RCPT TO, DATA, RSET, NOOP, QUIT, VRFY, HELP, EXPN; SIZE and 8BITMIME are announced.
/// </summary>
public sealed class SmtpChannel : AsyncChat
{
    private const int CommandSizeLimit = 512;
    private static readonly Terminator Line = Terminator.FromBytes("\r\n"u8);
    private static readonly Terminator EndOfData = Terminator.FromBytes("\r\n.\r\n"u8);

    private readonly SmtpServer _server;
    private readonly EndPoint _peer;
    private readonly MemoryStream _received = new();
    private bool _inData;
    private long _numBytes;
    private bool _seenGreeting;
    private bool _extended;
    private string? _mailFrom;
    private readonly List<string> _rcptTos = new();
    private List<string> _mailOptions = new();

    public SmtpChannel(SmtpServer server, Socket socket, EndPoint peer, SocketMap map) : base(socket, map)
    {
        _server = server;
        _peer = peer;
        SetTerminator(Line);
        Reply($"220 {server.Hostname} Asyncore SMTP");
    }

    private int CommandLimit => _extended ? CommandSizeLimit + 26 : CommandSizeLimit; // room for SIZE=, as smtpd allows

    private void Reply(string line) => Push(Encoding.ASCII.GetBytes(line + "\r\n"));

    protected override void CollectIncomingData(ReadOnlySpan<byte> data)
    {
        long limit = _inData ? _server.DataSizeLimit : CommandLimit;
        if (limit > 0 && _numBytes > limit)
        {
            return; // over the limit: counted as too much, not kept
        }

        _numBytes += data.Length;
        if (_numBytes <= limit || limit == 0)
        {
            _received.Write(data);
        }
    }

    protected override void FoundTerminator()
    {
        byte[] line = _received.ToArray();
        _received.SetLength(0);
        long size = _numBytes;
        _numBytes = 0;
        if (!_inData)
        {
            Command(line, size);
            return;
        }

        _inData = false;
        SetTerminator(Line);
        if (_server.DataSizeLimit > 0 && size > _server.DataSizeLimit)
        {
            Reply("552 Error: Too much mail data");
            Reset();
            return;
        }

        var message = new SmtpMessage(_peer, _mailFrom!, _rcptTos.ToArray(), Unstuff(line), _mailOptions.ToArray());
        string? status;
        try
        {
            status = _server.Deliver(message);
        }
        catch (Exception e)
        {
            LogInfo($"delivery failed: {e.Message}", "error");
            status = "451 Requested action aborted: local error in processing";
        }

        Reset();
        Reply(status ?? "250 OK");
    }

    /// <summary>RFC 5321 4.5.2: drop the leading dot of each line; the CRLF that began the terminator ends the last line.</summary>
    private static byte[] Unstuff(byte[] data)
    {
        var output = new MemoryStream(data.Length + 2);
        bool lineStart = true;
        for (int i = 0; i < data.Length; i++)
        {
            if (lineStart && data[i] == (byte)'.')
            {
                lineStart = false;
                continue;
            }

            output.WriteByte(data[i]);
            lineStart = data[i] == (byte)'\n' && i > 0 && data[i - 1] == (byte)'\r';
        }

        if (data.Length > 0)
        {
            output.Write("\r\n"u8);
        }

        return output.ToArray();
    }

    private void Reset()
    {
        _mailFrom = null;
        _rcptTos.Clear();
        _mailOptions = new();
    }

    private void Command(byte[] raw, long size)
    {
        if (raw.Length == 0 && size == 0)
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
        string? arg = sp < 0 ? null : line[(sp + 1)..].Trim();
        switch (command)
        {
            case "HELO": Helo(arg, extended: false); break;
            case "EHLO": Helo(arg, extended: true); break;
            case "NOOP": Reply(arg is null ? "250 OK" : "501 Syntax: NOOP"); break;
            case "QUIT":
                Reply("221 Bye");
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
                Reply(arg is null ? "501 Syntax: VRFY <address>"
                    : ParseAddress(arg, out _) is not null ? "252 Cannot VRFY user, but will accept message and attempt delivery"
                    : $"502 Could not VRFY {arg}");
                break;
            case "EXPN": Reply("502 EXPN not implemented"); break;
            case "HELP": Reply("250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY"); break;
            case "MAIL": Mail(arg); break;
            case "RCPT": Rcpt(arg); break;
            case "DATA": Data(arg); break;
            default: Reply($"500 Error: command \"{command}\" not recognized"); break;
        }
    }

    private void Helo(string? arg, bool extended)
    {
        string name = extended ? "EHLO" : "HELO";
        if (string.IsNullOrEmpty(arg))
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
            Reply($"250 {_server.Hostname}");
            return;
        }

        Reply($"250-{_server.Hostname}");
        if (_server.DataSizeLimit > 0)
        {
            Reply($"250-SIZE {_server.DataSizeLimit}");
        }

        Reply("250-8BITMIME");
        Reply("250 HELP");
    }

    private void Mail(string? arg)
    {
        if (!_seenGreeting)
        {
            Reply("503 Error: send HELO first");
            return;
        }

        string syntax = "501 Syntax: MAIL FROM: <address>" + (_extended ? " [SP <mail-parameters>]" : "");
        if (arg is null || !arg.StartsWith("FROM:", StringComparison.OrdinalIgnoreCase) || ParseAddress(arg[5..], out string rest) is not { } address)
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

            if (_server.DataSizeLimit > 0 && size > _server.DataSizeLimit)
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
        if (arg is null || !arg.StartsWith("TO:", StringComparison.OrdinalIgnoreCase) || ParseAddress(arg[3..], out string rest) is not { } address)
        {
            Reply(syntax);
            return;
        }

        if (rest.Length > 0)
        {
            Reply(_extended ? "555 RCPT TO parameters not recognized or not implemented" : syntax);
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

        _inData = true;
        SetTerminator(EndOfData);
        Reply("354 End data with <CR><LF>.<CR><LF>");
    }

    /// <summary>An address in angle brackets or a bare addr-spec; the rest of the line goes to <paramref name="rest"/>.</summary>
    private static string? ParseAddress(string text, out string rest)
    {
        text = text.TrimStart();
        rest = string.Empty;
        string address;
        if (text.StartsWith('<'))
        {
            int close = text.IndexOf('>');
            if (close < 0)
            {
                return null;
            }

            address = text[1..close];
            rest = text[(close + 1)..].Trim();
        }
        else
        {
            int sp = text.IndexOf(' ');
            address = sp < 0 ? text : text[..sp];
            rest = sp < 0 ? string.Empty : text[(sp + 1)..].Trim();
        }

        int at = address.IndexOf('@');
        bool ok = at > 0 && at < address.Length - 1 && address.IndexOfAny([' ', '<', '>', '\t']) < 0;
        return ok ? address : null;
    }
}
