using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Smtp;
using Asyncore.Tests.Support;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Asyncore.Tests.Integration;

/// <summary>
/// The SMTP sample, sent mail by MailKit, smtplib and a raw socket, delivering into a real Maildir
/// in a temporary folder that mailbox.Maildir reads back.
/// </summary>
public sealed partial class SmtpServerTests : IDisposable
{
    private readonly string _maildir = Directory.CreateTempSubdirectory("asyncore-maildir-").FullName;
    private readonly ConcurrentQueue<string> _log = new();

    public void Dispose() => Directory.Delete(_maildir, recursive: true);

    private (LoopThread Loop, SmtpServer Server) Start(SmtpServerOptions? options = null)
    {
        SmtpServer? server = null;
        options ??= new SmtpServerOptions();
        options = new SmtpServerOptions
        {
            DataSizeLimit = options.DataSizeLimit,
            MaxRecipients = options.MaxRecipients,
            Timeout = options.Timeout,
            HighWaterMark = options.HighWaterMark,
            OutputHardLimit = options.OutputHardLimit,
            Hostname = "mx.test",
            Delivered = (envelope, bytes, name) => _log.Enqueue($"<{envelope.MailFrom}> -> {string.Join(", ", envelope.RcptTos)}, {bytes} bytes -> {name}"),
        };
        var loop = new LoopThread(map => server = new SmtpServer(new IPEndPoint(IPAddress.Loopback, 0), new MaildirStore(_maildir), options, map));
        return (loop, server!);
    }

    private string[] Files(string sub) => Directory.GetFiles(Path.Combine(_maildir, sub)).Order().ToArray();

    /// <summary>The delivered messages, oldest first: the bytes in new/ and the envelope sidecar.</summary>
    private (byte[] Data, string Envelope)[] Delivered() =>
        Files("new")
            .OrderBy(f => File.GetLastWriteTimeUtc(f)).ThenBy(f => f, StringComparer.Ordinal)
            .Select(f => (File.ReadAllBytes(f), File.ReadAllText(Path.Combine(_maildir, "envelope", Path.GetFileName(f)))))
            .ToArray();

    private static byte[] Wire(MimeMessage message)
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        using var stream = new MemoryStream();
        message.WriteTo(options, stream);
        byte[] bytes = stream.ToArray();
        return bytes.AsSpan().EndsWith("\r\n"u8) ? bytes : [.. bytes, .. "\r\n"u8];
    }

    [Fact]
    public async Task MailKitMessagesArriveByteForByteInTheMaildir()
    {
        var (loop, server) = Start();
        using (loop)
        {
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Ada", "ada@example.org"));
            message.To.Add(new MailboxAddress("Bob", "bob@example.org"));
            message.Cc.Add(new MailboxAddress("Cy", "cy@example.org"));
            message.Subject = "Asyncore über SMTP";
            message.Body = new TextPart("plain")
            {
                Text = "Hello Bob,\n.a line that starts with a dot\n..and one with two\n.\nnot the end: a lone dot above\nGrüße, naïve café ☕\n",
            };
            var at = (IPEndPoint)server.Address;

            using (var client = new SmtpClient())
            {
                await client.ConnectAsync(at.Address.ToString(), at.Port, SecureSocketOptions.None);
                Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.EightBitMime));
                Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Size));
                await client.SendAsync(message);
                await client.SendAsync(message); // a second message on the same session
                await client.DisconnectAsync(quit: true);
            }

            var delivered = Delivered();
            Assert.Equal(2, delivered.Length);
            byte[] expected = Wire(message);
            foreach (var (data, envelope) in delivered)
            {
                Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(data));
                Assert.Equal(expected, data);
                Assert.Matches(@"^MAIL FROM:<ada@example\.org>( \S+)*\nRCPT TO:<bob@example\.org>\nRCPT TO:<cy@example\.org>\n$", envelope);
            }

            Assert.Empty(Files("tmp"));
            Assert.Equal(2, _log.Count);
        }
    }

    private sealed class Session : IDisposable
    {
        private readonly Socket _s = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20_000 };
        private readonly StreamReader _r;

        public Session(EndPoint at, bool smallReceiveBuffer = false)
        {
            if (smallReceiveBuffer)
            {
                _s.ReceiveBufferSize = 4096;
            }

            _s.Connect(at);
            _r = new StreamReader(new NetworkStream(_s), Encoding.UTF8);
            Greeting = _r.ReadLine()!;
        }

        public string Greeting { get; }

        /// <summary>Sends a line with CRLF and returns the whole reply (multi-line replies joined with '|').</summary>
        public string Say(string line) => Send(line + "\r\n");

        /// <summary>Sends bytes as they are and returns the next reply.</summary>
        public string Send(string text)
        {
            SendRaw(text);
            return Read();
        }

        public void SendRaw(string text) => _s.Send(Encoding.UTF8.GetBytes(text));

        public string Read()
        {
            var lines = new List<string>();
            string l;
            do
            {
                l = _r.ReadLine() ?? "<closed>";
                lines.Add(l);
            }
            while (l.Length > 3 && l[3] == '-');
            return string.Join("|", lines);
        }

        /// <summary>Whether the server closed the connection within 20 s (the lines before the end are skipped).</summary>
        public bool ServerClosed()
        {
            try
            {
                while (_r.ReadLine() is not null)
                {
                }

                return true;
            }
            catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
            {
                return true;
            }
        }

        public void Dispose() => _s.Dispose();
    }

    private static void Begin(Session s, string from = "<a@b.c>", string to = "<x@y.z>")
    {
        Assert.Equal("250 mx.test", s.Say("HELO client.test"));
        Assert.Equal("250 OK", s.Say($"MAIL FROM:{from}"));
        Assert.Equal("250 OK", s.Say($"RCPT TO:{to}"));
        Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
    }

    [Fact]
    public void ConversationAndErrorCodes()
    {
        var (loop, server) = Start(new SmtpServerOptions { DataSizeLimit = 1000 });
        using (loop)
        using (var s = new Session(server.Address))
        {
            Assert.Equal("220 mx.test Asyncore SMTP", s.Greeting);
            Assert.Equal("503 Error: send HELO first", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("500 Error: command \"BOGUS\" not recognized", s.Say("BOGUS"));
            Assert.Equal("500 Error: bad syntax", s.Say(""));
            Assert.Equal("501 Syntax: EHLO hostname", s.Say("EHLO"));
            Assert.Equal("250-mx.test|250-SIZE 1000|250-8BITMIME|250 HELP", s.Say("EHLO client.test"));
            Assert.Equal("503 Duplicate HELO/EHLO", s.Say("HELO again"));
            Assert.Equal("250 OK", s.Say("NOOP"));
            Assert.Equal("501 Syntax: NOOP", s.Say("NOOP now"));
            Assert.Equal("252 Cannot VRFY user, but will accept message and attempt delivery", s.Say("VRFY <someone@example.org>"));
            Assert.Equal("501 Syntax: VRFY <address>", s.Say("VRFY"));
            Assert.Equal("503 Error: need MAIL command", s.Say("RCPT TO:<x@y.z>"));
            Assert.Equal("503 Error: need RCPT command", s.Say("DATA"));
            Assert.Equal("501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]", s.Say("MAIL FROM:nobody"));
            Assert.Equal("501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]", s.Say("MAIL FROM:"));
            Assert.Equal("552 Error: message size exceeds fixed maximum message size", s.Say("MAIL FROM:<a@b.c> SIZE=5000"));
            Assert.Equal("501 Error: BODY can only be one of 7BIT, 8BITMIME", s.Say("MAIL FROM:<a@b.c> BODY=BINARY"));
            Assert.Equal("555 MAIL FROM parameters not recognized or not implemented", s.Say("MAIL FROM:<a@b.c> FOO=1"));
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c> SIZE=100 BODY=8BITMIME"));
            Assert.Equal("503 Error: nested MAIL command", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("501 Syntax: RCPT TO: <address> [SP <mail-parameters>]", s.Say("RCPT TO:<>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<x@y.z>"));
            Assert.Equal("501 Syntax: DATA", s.Say("DATA now"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
            s.SendRaw(new string('x', 1500) + "\r\n.\r\n");
            Assert.Equal("552 Error: Too much mail data", s.Read());
            Assert.Empty(Files("new"));
            Assert.Empty(Files("tmp"));

            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("250 OK", s.Say("RSET"));
            Assert.Equal("503 Error: need RCPT command", s.Say("DATA"));
            Assert.Equal("500 Error: line too long", s.Say("NOOP " + new string('n', 600)));
            Assert.Equal("502 EXPN not implemented", s.Say("EXPN list"));
            Assert.Equal("221 Bye", s.Say("QUIT"));
            Assert.True(s.ServerClosed());
        }
    }

    [Fact]
    public void DotUnstuffingAnEmptyMessageAndAMessageOfOneEmptyLine()
    {
        var (loop, server) = Start();
        using (loop)
        using (var s = new Session(server.Address))
        {
            Begin(s);
            Assert.Equal("250 OK", s.Send("..first\r\nmiddle .dot\r\n...\r\n.\r\n"));

            // "." straight after DATA's own CRLF: an empty message, and the next transaction is not swallowed.
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<x@y.z>"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
            Assert.Equal("250 OK", s.Send(".\r\n"));

            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<x@y.z>"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
            Assert.Equal("250 OK", s.Send("\r\n.\r\n"));

            // Pipelined: DATA, the empty message and the next MAIL in one send.
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<x@y.z>"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Send("DATA\r\n.\r\nMAIL FROM:<p@q.r>\r\n"));
            Assert.Equal("250 OK", s.Read());
            Assert.Equal("250 OK", s.Read());
        }

        var got = Delivered().Select(d => Encoding.ASCII.GetString(d.Data)).ToArray();
        Assert.Equal([".first\r\nmiddle .dot\r\n..\r\n", "", "\r\n", ""], got);
    }

    [Fact]
    public void CommandLinesEndedByALoneLfAreAnswered()
    {
        var (loop, server) = Start();
        using (loop)
        using (var s = new Session(server.Address))
        {
            Assert.Equal("250-mx.test|250-SIZE 33554432|250-8BITMIME|250 HELP", s.Send("EHLO client.test\n"));
            Assert.Equal("250 OK", s.Send("NOOP\n"));
            Assert.Equal("250 OK", s.Send("MAIL FROM:<a@b.c>\n"));
            Assert.Equal("250 OK", s.Send("RCPT TO:<x@y.z>\n"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Send("DATA\n"));
            Assert.Equal("250 OK", s.Send("body\r\n.\r\n"));
            Assert.Equal("221 Bye", s.Send("QUIT\n"));
        }

        Assert.Equal("body\r\n", Encoding.ASCII.GetString(Assert.Single(Delivered()).Data));
    }

    /// <summary>
    /// Only CRLF "." CRLF ends the data: a lone LF or CR around the dot is data, so a message cannot
    /// smuggle a second transaction past a front end that reads line ends differently.
    /// </summary>
    [Fact]
    public void OnlyCrLfDotCrLfEndsTheData()
    {
        var (loop, server) = Start();
        using (loop)
        using (var s = new Session(server.Address))
        {
            Begin(s);
            s.SendRaw("a\n.\nMAIL FROM:<smuggled@x.y>\r\nb\r\n.\nc\r\nd\n.\r\nRCPT TO:<smuggled@x.y>\r\ne\r.\r\nf\r\n.\r");
            Thread.Sleep(200);
            s.SendRaw("\n");
            Assert.Equal("250 OK", s.Read());
            Assert.Equal("250 OK", s.Say("NOOP"));
        }

        var (data, envelope) = Assert.Single(Delivered());
        Assert.Equal("a\n.\nMAIL FROM:<smuggled@x.y>\r\nb\r\n\nc\r\nd\n.\r\nRCPT TO:<smuggled@x.y>\r\ne\r.\r\nf\r\n", Encoding.ASCII.GetString(data));
        Assert.DoesNotContain("smuggled", envelope);
    }

    [Fact]
    public void TheNullSenderAndPostmasterAreAccepted()
    {
        var (loop, server) = Start();
        using (loop)
        using (var s = new Session(server.Address))
        {
            Assert.Equal("250 mx.test", s.Say("HELO mailer-daemon.test"));
            Assert.Equal("250 OK", s.Say("MAIL FROM:<>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<postmaster>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<PostMaster>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<@relay.test:bob@example.org>")); // a source route is dropped
            Assert.Equal("501 Syntax: RCPT TO: <address>", s.Say("RCPT TO:<root>"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
            Assert.Equal("250 OK", s.Send("Subject: bounce\r\n\r\nundeliverable\r\n.\r\n"));
        }

        var (_, envelope) = Assert.Single(Delivered());
        Assert.Equal("MAIL FROM:<>\nRCPT TO:<postmaster>\nRCPT TO:<PostMaster>\nRCPT TO:<bob@example.org>\n", envelope);
        Assert.Equal("<> -> postmaster, PostMaster, bob@example.org, 34 bytes -> new/", Assert.Single(_log)[..^Path.GetFileName(Files("new")[0]).Length]);
    }

    [Fact]
    public void ControlCharactersInAnAddressAre501AndWrittenNowhere()
    {
        var (loop, server) = Start();
        using (loop)
        using (var s = new Session(server.Address))
        {
            Assert.Equal("501 Syntax: HELO hostname", s.Say("HELO INJECT\u0001ED"));
            Assert.Equal("250 mx.test", s.Say("HELO client.test"));
            Assert.Equal("501 Syntax: MAIL FROM: <address>", s.Say("MAIL FROM:<INJECT\rED@x.y>"));
            Assert.Equal("501 Syntax: MAIL FROM: <address>", s.Say("MAIL FROM:<INJECTED@x.y\u001b[31m>"));
            Assert.Equal("501 Syntax: MAIL FROM: <address>", s.Say("MAIL FROM:<INJECTED@x.y>\r"));
            Assert.Equal("501 Syntax: MAIL FROM: <address>", s.Say("MAIL FROM:<INJECTED\r\nRCPT TO:<x@y.z>"));
            Assert.Equal("503 Error: need MAIL command", s.Read()); // the LF ended the line: the rest is another command
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("501 Syntax: RCPT TO: <address>", s.Say("RCPT TO:<INJECT\u007fED@x.y>"));
            Assert.Equal("501 Syntax: RCPT TO: <address>", s.Say("RCPT TO:<INJECTED@x.y\u0085>"));
            Assert.Equal("501 Syntax: RCPT TO: <address>", s.Say("RCPT TO:<INJECTED@x.y\t>"));
            Assert.Equal("501 Syntax: VRFY <address>", s.Say("VRFY <INJECT\u0000ED@x.y>"));
            Assert.Equal("500 Error: command \"INJECT?ED\" not recognized", s.Say("INJECT\u0001ED"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<x@y.z>"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
            Assert.Equal("250 OK", s.Send("clean\r\n.\r\n"));
        }

        var (_, envelope) = Assert.Single(Delivered());
        Assert.Equal("MAIL FROM:<a@b.c>\nRCPT TO:<x@y.z>\n", envelope);
        foreach (string file in Directory.GetFiles(_maildir, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain("INJECT", File.ReadAllText(file));
        }

        Assert.DoesNotContain(_log, line => line.Contains("INJECT", StringComparison.Ordinal));
    }

    [Fact]
    public void TheRecipientLimitIs1000ThenEach452()
    {
        var (loop, server) = Start();
        using (loop)
        using (var s = new Session(server.Address))
        {
            Assert.Equal("250 mx.test", s.Say("HELO client.test"));
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            s.SendRaw(string.Concat(Enumerable.Range(0, 1002).Select(i => $"RCPT TO:<r{i}@example.org>\r\n"))); // pipelined
            for (int i = 0; i < 1000; i++)
            {
                Assert.Equal("250 OK", s.Read());
            }

            Assert.Equal("452 4.5.3 Error: too many recipients", s.Read());
            Assert.Equal("452 4.5.3 Error: too many recipients", s.Read());
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
            Assert.Equal("250 OK", s.Send("x\r\n.\r\n"));
        }

        var (_, envelope) = Assert.Single(Delivered());
        Assert.Equal(1001, envelope.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.EndsWith("RCPT TO:<r999@example.org>\n", envelope);
    }

    [Fact]
    public void MaxRecipientsIsAnOption()
    {
        var (loop, server) = Start(new SmtpServerOptions { MaxRecipients = 2 });
        using (loop)
        using (var s = new Session(server.Address))
        {
            Begin(s, to: "<one@x.y>");
            Assert.Equal("250 OK", s.Send(".\r\n"));
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<one@x.y>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<two@x.y>"));
            Assert.Equal("452 4.5.3 Error: too many recipients", s.Say("RCPT TO:<three@x.y>"));
            Assert.Equal("250 OK", s.Say("RSET"));
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<one@x.y>")); // a new transaction counts from 0
        }
    }

}
