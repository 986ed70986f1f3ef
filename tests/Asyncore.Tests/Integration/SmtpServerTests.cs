using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Samples.Smtp;
using Asyncore.Tests.Support;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Asyncore.Tests.Integration;

/// <summary>The SMTP sample, sent mail by MailKit and spoken to line by line over a raw socket.</summary>
public sealed class SmtpServerTests
{
    private readonly ConcurrentQueue<SmtpMessage> _delivered = new();

    private (LoopThread Loop, SmtpServer Server) Start(int maxSize = SmtpServer.DefaultDataSizeLimit)
    {
        SmtpServer? server = null;
        var loop = new LoopThread(map => server = new SmtpServer(
            new IPEndPoint(IPAddress.Loopback, 0),
            m =>
            {
                _delivered.Enqueue(m);
                return null;
            },
            maxSize,
            map) { Hostname = "mx.test" });
        return (loop, server!);
    }

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
    public async Task MailKitMessagesArriveByteForByte()
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
            var (address, port) = ((IPEndPoint)server.Address).Deconstruct();

            using (var client = new SmtpClient())
            {
                await client.ConnectAsync(address.ToString(), port, SecureSocketOptions.None);
                Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.EightBitMime));
                Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Size));
                await client.SendAsync(message);
                await client.SendAsync(message); // a second message on the same session
                await client.DisconnectAsync(quit: true);
            }

            Assert.Equal(2, _delivered.Count);
            byte[] expected = Wire(message);
            foreach (SmtpMessage got in _delivered)
            {
                Assert.Equal("ada@example.org", got.MailFrom);
                Assert.Equal(new[] { "bob@example.org", "cy@example.org" }, got.RcptTos);
                Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(got.Data));
                Assert.Equal(expected, got.Data);
            }
        }
    }

    private sealed class Session : IDisposable
    {
        private readonly Socket _s = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        private readonly StreamReader _r;

        public Session(EndPoint at)
        {
            _s.Connect(at);
            _r = new StreamReader(new NetworkStream(_s), Encoding.UTF8);
            Greeting = _r.ReadLine()!;
        }

        public string Greeting { get; }

        /// <summary>Sends a line and returns the whole reply (multi-line replies joined with '|').</summary>
        public string Say(string line)
        {
            _s.Send(Encoding.UTF8.GetBytes(line + "\r\n"));
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

        public bool ServerClosed() => _r.ReadLine() is null;

        public void Dispose() => _s.Dispose();
    }

    [Fact]
    public void ConversationAndErrorCodes()
    {
        var (loop, server) = Start(maxSize: 1000);
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
            Assert.Equal("552 Error: message size exceeds fixed maximum message size", s.Say("MAIL FROM:<a@b.c> SIZE=5000"));
            Assert.Equal("501 Error: BODY can only be one of 7BIT, 8BITMIME", s.Say("MAIL FROM:<a@b.c> BODY=BINARY"));
            Assert.Equal("555 MAIL FROM parameters not recognized or not implemented", s.Say("MAIL FROM:<a@b.c> FOO=1"));
            Assert.Equal("250 OK", s.Say("MAIL FROM:<a@b.c> SIZE=100 BODY=8BITMIME"));
            Assert.Equal("503 Error: nested MAIL command", s.Say("MAIL FROM:<a@b.c>"));
            Assert.Equal("250 OK", s.Say("RCPT TO:<x@y.z>"));
            Assert.Equal("501 Syntax: DATA", s.Say("DATA now"));
            Assert.Equal("354 End data with <CR><LF>.<CR><LF>", s.Say("DATA"));
            s.SendRaw(new string('x', 1500) + "\r\n.\r\n");
            Assert.Equal("552 Error: Too much mail data", s.Read());
            Assert.Empty(_delivered);

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
    public void DotUnstuffingAndAnEmptyMessage()
    {
        var (loop, server) = Start();
        using (loop)
        using (var s = new Session(server.Address))
        {
            s.Say("HELO c");
            s.Say("MAIL FROM:<a@b.c>");
            s.Say("RCPT TO:<x@y.z>");
            s.Say("DATA");
            s.SendRaw("..first\r\nmiddle .dot\r\n...\r\n.\r\n");
            Assert.Equal("250 OK", s.Read());
            s.Say("MAIL FROM:<a@b.c>");
            s.Say("RCPT TO:<x@y.z>");
            s.Say("DATA");
            s.SendRaw("\r\n.\r\n");
            Assert.Equal("250 OK", s.Read());
        }

        SmtpMessage[] got = _delivered.ToArray();
        Assert.Equal(".first\r\nmiddle .dot\r\n..\r\n", Encoding.ASCII.GetString(got[0].Data));
        Assert.Empty(got[1].Data);
    }
}

internal static class EndPointExtensions
{
    public static (IPAddress Address, int Port) Deconstruct(this IPEndPoint e) => (e.Address, e.Port);
}
