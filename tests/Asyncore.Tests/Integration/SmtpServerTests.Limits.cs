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

/// <content>Timeouts, streaming to Maildir, and what is left in it.</content>
public sealed partial class SmtpServerTests : IDisposable
{
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
