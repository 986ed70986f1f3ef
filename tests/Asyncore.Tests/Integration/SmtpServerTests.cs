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
public sealed class SmtpServerTests : IDisposable
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

    [Fact]
    public void ASilentClientGets421AndIsClosed()
    {
        var (loop, server) = Start(new SmtpServerOptions { Timeout = TimeSpan.FromSeconds(1) });
        using (loop)
        using (var s = new Session(server.Address))
        {
            var clock = Stopwatch.StartNew();
            Assert.Equal("421 4.4.2 mx.test Error: timeout exceeded", s.Read());
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(5));
            Assert.True(s.ServerClosed());
        }
    }

    [Fact]
    public void AStalledDataGets421AndNothingIsDelivered()
    {
        var (loop, server) = Start(new SmtpServerOptions { Timeout = TimeSpan.FromSeconds(1) });
        using (loop)
        using (var s = new Session(server.Address))
        {
            Begin(s);
            s.SendRaw("Subject: half\r\n\r\nthe first line\r\nand the seco");
            Assert.Equal("421 4.4.2 mx.test Error: timeout exceeded", s.Read());
            Assert.True(s.ServerClosed());
        }

        Assert.Empty(Files("new"));
        Assert.True(SpinWait.SpinUntil(() => Files("tmp").Length == 0, TimeSpan.FromSeconds(5)));
    }

    /// <summary>One byte every 200 ms is never idle, but a line that takes longer than the timeout is cut (Postfix's per-record deadline).</summary>
    [Fact]
    public void ALineTricklingInGets421()
    {
        var (loop, server) = Start(new SmtpServerOptions { Timeout = TimeSpan.FromSeconds(1) });
        using (loop)
        using (var s = new Session(server.Address))
        {
            Begin(s);
            var clock = Stopwatch.StartNew();
            bool closed = false;
            try
            {
                for (int i = 0; i < 50 && !closed; i++)
                {
                    s.SendRaw("x");
                    Thread.Sleep(200);
                }
            }
            catch (SocketException)
            {
                closed = true; // cut off while still sending
            }

            Assert.Equal("421 4.4.2 mx.test Error: timeout exceeded", s.Read());
            Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.8), TimeSpan.FromSeconds(8));
        }

        Assert.Empty(Files("new"));
    }

    [Fact]
    public void MessagesAreStreamedToTmpAndAppearInNewOnlyWhenComplete()
    {
        var (loop, server) = Start(new SmtpServerOptions { DataSizeLimit = 0 });
        string line = new string('m', 998) + "\r\n";
        var body = new StringBuilder();
        using (loop)
        using (var s = new Session(server.Address))
        {
            Begin(s);
            for (int i = 0; i < 4096; i++) // 4 MiB
            {
                body.Append(line);
            }

            s.SendRaw(body.ToString());
            Assert.True(SpinWait.SpinUntil(() => Files("tmp") is [var f] && new FileInfo(f).Length >= 4_000_000, TimeSpan.FromSeconds(20)), "the first 4 MiB were not written to tmp/ as they arrived");
            Assert.Empty(Files("new"));
            s.SendRaw(body.ToString());
            Assert.Equal("250 OK", s.Send(".\r\n"));
            Assert.Empty(Files("tmp"));

            // A client that leaves in the middle of DATA leaves nothing behind.
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<x@y.z>"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
            s.SendRaw(body.ToString());
            Assert.True(SpinWait.SpinUntil(() => Files("tmp") is [var f] && new FileInfo(f).Length >= 4_000_000, TimeSpan.FromSeconds(20)));
        }

        Assert.True(SpinWait.SpinUntil(() => Files("tmp").Length == 0, TimeSpan.FromSeconds(10)), "a half-received message was left in tmp/");
        var (data, _) = Assert.Single(Delivered());
        Assert.Equal(2 * 4096 * 1000, data.Length);
        Assert.True(data.AsSpan().SequenceEqual(Encoding.ASCII.GetBytes(body.ToString() + body)));
    }

    [Fact]
    public void LeftoversInTmpOlderThan36HoursAreRemovedAtStartAndNothingElse()
    {
        // What a process killed mid-message leaves: tmp/NAME (and, if it died between the two, the
        // envelope sidecar), next to a message written a minute ago and a delivered one.
        foreach (string sub in new[] { "tmp", "new", "cur", "envelope" })
        {
            Directory.CreateDirectory(Path.Combine(_maildir, sub));
        }

        DateTime old = DateTime.UtcNow - TimeSpan.FromHours(37);
        string Put(string sub, string name, DateTime? touched = null)
        {
            string path = Path.Combine(_maildir, sub, name);
            File.WriteAllText(path, "Subject: x\r\n\r\nhalf a messa");
            if (touched is { } t)
            {
                File.SetLastWriteTimeUtc(path, t);
                File.SetLastAccessTimeUtc(path, t);
            }

            return path;
        }

        string stale = Put("tmp", "100.M1P9Q1.mx", old);
        string staleEnvelope = Put("envelope", "100.M1P9Q1.mx", old);
        string recent = Put("tmp", "200.M1P9Q2.mx", DateTime.UtcNow - TimeSpan.FromHours(35));
        string staleButRead = Put("tmp", "300.M1P9Q3.mx", old);
        File.SetLastAccessTimeUtc(staleButRead, DateTime.UtcNow - TimeSpan.FromHours(1));
        string delivered = Put("new", "400.M1P9Q4.mx", old);
        string deliveredEnvelope = Put("envelope", "400.M1P9Q4.mx", old);
        string oldCopyOfDelivered = Put("tmp", "400.M1P9Q4.mx", old);

        var store = new MaildirStore(_maildir);

        Assert.Equal(2, store.StaleRemoved);
        Assert.False(File.Exists(stale), "a 37-hour-old file in tmp/ was kept");
        Assert.False(File.Exists(staleEnvelope), "the envelope of a message that never arrived was kept");
        Assert.False(File.Exists(oldCopyOfDelivered));
        Assert.True(File.Exists(recent), "a file in tmp/ younger than 36 hours was removed");
        Assert.True(File.Exists(staleButRead), "a file read an hour ago was removed");
        Assert.True(File.Exists(delivered));
        Assert.True(File.Exists(deliveredEnvelope), "the envelope of a delivered message was removed");
    }

    [NeedsFact(Outside.Python3)]
    public void PythonsMailboxReadsTheMaildir()
    {
        var (loop, server) = Start();
        int port = ((IPEndPoint)server.Address).Port;
        using (loop)
        {
            // smtplib sends two messages; mailbox.Maildir lists them, reads them, and files one as seen (new/ -> cur/).
            string script = $$"""
                import mailbox, smtplib, sys
                from email.message import EmailMessage
                for n in (1, 2):
                    m = EmailMessage()
                    m["From"], m["To"], m["Subject"] = "ada@example.org", "bob@example.org", f"message {n}"
                    m.set_content(f"body {n}\n.dot line\n")
                    with smtplib.SMTP("127.0.0.1", {{port}}) as s:
                        s.sendmail("ada@example.org", ["bob@example.org"], m.as_bytes(policy=m.policy.clone(linesep="\r\n")))
                md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
                for key in sorted(md.keys(), key=lambda k: md[k]["Subject"]):
                    msg = md[key]
                    print(key, msg["Subject"], repr(msg.get_payload()))
                    if msg["Subject"] == "message 1":
                        msg.set_subdir("cur")
                        msg.add_flag("S")
                        md[key] = msg
                """;
            var psi = new ProcessStartInfo("python3", ["-c", script, _maildir]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            string errors = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(30_000));
            Assert.True(p.ExitCode == 0, errors);
            string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, lines.Length);
            Assert.EndsWith(" message 1 'body 1\\n.dot line\\n'", lines[0]);
            Assert.EndsWith(" message 2 'body 2\\n.dot line\\n'", lines[1]);

            // mailbox hands out "\n" line ends; the file keeps the CRLF of the wire. Each message's
            // key is its unique name, which is also its envelope's name.
            string[] keys = lines.Select(l => l[..l.IndexOf(' ')]).ToArray();
            Assert.Equal(keys.Order(), Directory.GetFiles(Path.Combine(_maildir, "envelope")).Select(Path.GetFileName).Order());
            Assert.Equal(keys[0] + ":2,S", Path.GetFileName(Assert.Single(Files("cur"))));
            Assert.Equal(keys[1], Path.GetFileName(Assert.Single(Files("new"))));
        }
    }

    /// <summary>A client that pipelines HELP and never reads: paused at the high-water mark, while another client is served.</summary>
    [Fact]
    public void AClientThatNeverReadsIsPaused()
    {
        var (loop, server) = Start();
        using (loop)
        {
            var (flooder, sent) = Flood.NeverReading(server.Address, "HELP\r\n"u8, maxBytes: 12_000_000, stalled: TimeSpan.FromSeconds(1), limit: TimeSpan.FromSeconds(20));
            using (flooder)
            {
                Assert.True(sent < 12_000_000, $"the server read all {sent} bytes of a client that never reads");
                var (paused, queued) = loop.OnLoop(() => loop.Map.Values.OfType<SmtpChannel>().Select(c => (c.ReadingPaused, c.OutgoingCost)).Single());
                Assert.True(paused);
                long mark = new SmtpServerOptions().HighWaterMark!.Value;
                // Paused at the mark (plus the answers to the one read that crossed it); the kernel may take some
                // of the queue afterwards, and reading stays paused down to the low-water mark (half).
                Assert.InRange(queued, mark / 2, mark + (256 << 10));
                using var s = new Session(server.Address);
                Assert.Equal("221 Bye", s.Say("QUIT"));
            }
        }
    }

    [Fact]
    public void AClientPastTheHardOutputLimitIsDisconnected()
    {
        var (loop, server) = Start(new SmtpServerOptions { HighWaterMark = null, OutputHardLimit = 64 << 10 });
        using (loop)
        {
            var (flooder, _) = Flood.NeverReading(server.Address, "HELP\r\n"u8, maxBytes: 12_000_000, stalled: TimeSpan.FromSeconds(1), limit: TimeSpan.FromSeconds(20));
            using (flooder)
            {
                Assert.True(Flood.ClosedByServer(flooder, TimeSpan.FromSeconds(10)));
                Assert.Equal(1, loop.OnLoop(() => loop.Map.Count));
            }
        }
    }

    /// <summary>A timed-out client that does not read its 421 either is closed all the same.</summary>
    [Fact]
    public void ATimedOutClientThatDoesNotReadIsClosedAnyway()
    {
        var (loop, server) = Start(new SmtpServerOptions { Timeout = TimeSpan.FromSeconds(1) });
        using (loop)
        {
            var (flooder, _) = Flood.NeverReading(server.Address, "HELP\r\n"u8, maxBytes: 12_000_000, stalled: TimeSpan.FromSeconds(0.5), limit: TimeSpan.FromSeconds(20));
            using (flooder)
            {
                Assert.True(Flood.ClosedByServer(flooder, TimeSpan.FromSeconds(10)));
                Assert.Equal(1, loop.OnLoop(() => loop.Map.Count));
            }
        }
    }
}
