using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore;

namespace Asyncore.Samples.Smtp;

/// <summary>
/// One SMTP session, in the manner of CPython's smtpd.SMTPChannel (HELO/EHLO, MAIL FROM, RCPT TO,
/// DATA, RSET, NOOP, QUIT, VRFY, HELP, EXPN; SIZE and 8BITMIME announced) with a mail server's
/// front-door rules: commands are lines ended by "\r\n" or a lone "\n". DATA reads line by line with
/// "\r\n" as the terminator, so the end of data is a line holding only "." after a CRLF (the first
/// line right after DATA included): a lone LF or CR inside the data stays data and cannot end it.
/// Each line is dot-unstuffed and streamed to the store as it arrives, so memory stays flat
/// whatever the message size.
/// </summary>
/// <remarks>
/// This file holds the session's state, the byte stream (command lines and DATA), and its endings
/// (timeouts, the server's drain, close); the commands are in SmtpChannel.Commands.cs and the
/// address syntax in SmtpChannel.Addresses.cs.
/// </remarks>
public sealed partial class SmtpChannel : AsyncChat
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

    /// <summary>The peer as this sample's log lines show it (escaped: see <see cref="LogEscape"/>).</summary>
    private string PeerText => LogEscape.Escape(_peer.ToString() ?? "-");

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

        LogInfo($"{PeerText}: timeout, closing", "info");
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
}
