using System.Net;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Integration;

/// <summary>The sample programs as a new user first runs them: their own processes, real arguments, real sockets.</summary>
public class SampleProgramTests
{
    public static TheoryData<string, string[]> Servers() => new()
    {
        { "EchoServer", [] },
        { "LineServer", [] },
        { "PingServer", [] },
        { "SmtpServer", ["--maildir", Path.Combine(Path.GetTempPath(), "asyncore-unused-maildir")] },
        { "HttpServer", [] },
    };

    private static void AssertOneLineError(int exitCode, string[] stdout, string[] stderr, string expected)
    {
        Assert.Equal(1, exitCode);
        // On a machine whose open-file limit is too low for the servers, their one warning line comes too.
        string[] errors = stderr.Where(l => !l.Contains(": this process may open only ", StringComparison.Ordinal)).ToArray();
        string said = string.Join("\n", stdout.Concat(stderr));
        Assert.True(errors.Length == 1, $"expected one line on stderr, got: {said}");
        Assert.Contains(expected, errors[0]);
        Assert.DoesNotContain("Unhandled", said);
        Assert.DoesNotContain(" at ", said);
        Assert.Empty(stdout);
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void APortAlreadyTakenIsOneLineAndExitCode1(string program, string[] args)
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        int port = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var (code, stdout, stderr) = SampleProcess.Run(program, ["--port", port.ToString(), .. args]);
        AssertOneLineError(code, stdout, stderr, $"{program}: cannot listen on 127.0.0.1:{port}: the port is already in use (choose another with --port)");
    }

    /// <summary>The contender the speed issue asks for: the PING sample on io_uring answers, says nothing on standard error where the kernel allows io_uring, and stops on SIGTERM.</summary>
    [Fact]
    public void ThePingServerRunsOnIoUringWhenAskedTo()
    {
        using var server = SampleProcess.StartServer("PingServer", out IPEndPoint at, "--poller", "io_uring", "--loops", "2");
        for (int i = 0; i < 4; i++)
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
            s.Connect(at);
            s.Send("PING\r\n*1\r\n$4\r\nPING\r\nQUIT\r\n"u8);
            Assert.Equal("+PONG\r\n+PONG\r\n+OK\r\n", Encoding.ASCII.GetString(Drive.ReadToEnd(s)));
        }

        Assert.Contains(server.Stdout, l => l.Contains("--poller io_uring", StringComparison.Ordinal));
        if (KernelAllowsIoUring())
        {
            Assert.DoesNotContain(server.Stderr, l => l.Contains("io_uring", StringComparison.Ordinal));
        }

        Assert.Equal(0, server.Stop());
    }

    /// <summary>Whether this process may set up a ring (a seccomp filter can refuse it while io_uring_disabled reads 0).</summary>
    private static bool KernelAllowsIoUring()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        using var ring = global::Asyncore.Polling.IoUringPoller.TryCreate(out _);
        return ring is not null;
    }

    /// <summary>The HTTP sample on io_uring: keep-alive and pipelined requests answered in order, the backend named at start-up, exit 0 on SIGTERM.</summary>
    [Fact]
    public void TheHttpServerRunsOnIoUringWhenAskedTo()
    {
        using var server = SampleProcess.StartServer("HttpServer", out IPEndPoint at, "--poller", "io_uring", "--loops", "1", "--quiet");
        using (var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 })
        {
            s.Connect(at);
            s.Send("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"u8);
            string answers = Encoding.ASCII.GetString(Drive.ReadToEnd(s));
            int ok1 = answers.IndexOf("HTTP/1.1 200 OK", StringComparison.Ordinal);
            int missing = answers.IndexOf("HTTP/1.1 404", StringComparison.Ordinal);
            int ok2 = answers.IndexOf("HTTP/1.1 200 OK", missing + 1, StringComparison.Ordinal);
            Assert.True(ok1 == 0 && missing > ok1 && ok2 > missing, answers);
            Assert.EndsWith("Hello, World!\nThis is the HTTP server sample of Asyncore (Python's asyncore and asynchat for .NET).\n", answers, StringComparison.Ordinal);
        }

        Assert.Contains(server.Stdout, l => l.Contains("--poller io_uring", StringComparison.Ordinal));
        Assert.Equal(0, server.Stop());
    }

    [Fact]
    public void TheBulkReceiverSaysTheSameWhenItsPortIsTaken()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        int port = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var (code, stdout, stderr) = SampleProcess.Run("Bulk", ["recv", port.ToString(), "1000"]);
        AssertOneLineError(code, stdout, stderr, $"cannot listen on 127.0.0.1:{port}: the port is already in use");
    }

    [Fact]
    public void AnAddressThisMachineDoesNotHaveIsOneLine()
    {
        // 192.0.2.1 is TEST-NET-1: never an address of this machine.
        var (code, stdout, stderr) = SampleProcess.Run("LineServer", "--host", "192.0.2.1", "--port", "7008");
        AssertOneLineError(code, stdout, stderr, "LineServer: cannot listen on 192.0.2.1:7008: this machine has no such address (see --host)");
    }

    [Fact]
    public void APortBelow1024WithoutTheRightToItIsOneLine()
    {
        // As root, run without CAP_NET_BIND_SERVICE (setpriv drops it from the bounding set; the user stays
        // root, so the program's files are readable wherever the checkout is); otherwise as this user.
        bool root = Environment.UserName == "root";
        string line = root
            ? RunWithoutBindCapability("LineServer", "--port", "81")
            : string.Join("\n", SampleProcess.Run("LineServer", "--port", "81").Stderr);
        Assert.Contains("LineServer: cannot listen on 127.0.0.1:81: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another with --port)", line);
    }

    private static string RunWithoutBindCapability(string program, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("setpriv", ["--bounding-set", "-net_bind_service", "--", SampleProcess.PathOf(program), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["HOME"] = Path.GetTempPath();
        psi.Environment["DOTNET_CLI_HOME"] = Path.GetTempPath();
        using var p = System.Diagnostics.Process.Start(psi)!;
        string stderr = p.StandardError.ReadToEnd();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(30_000));
        Assert.Equal(1, p.ExitCode);
        Assert.Equal("", stdout);
        return stderr;
    }

    [Fact]
    public void AMistypedOptionIsReportedWithoutTheWholeHelp()
    {
        var (code, stdout, stderr) = SampleProcess.Run("LineServer", "--host", "localhost:7008");
        Assert.NotEqual(0, code);
        Assert.Contains("--host: not an IP address: 'localhost:7008'", string.Join("\n", stderr));
        Assert.DoesNotContain("Usage:", string.Join("\n", stdout));
    }

    [Fact]
    public void EchoClientModeSendsAndChecksTheEcho()
    {
        using var server = SampleProcess.StartServer("EchoServer", out IPEndPoint at);
        var (code, stdout, _) = SampleProcess.Run("EchoServer", "client", "--port", at.Port.ToString(), "--text", "hello, echo");
        Assert.Equal(0, code);
        Assert.Equal(["hello, echo"], stdout);

        (code, stdout, _) = SampleProcess.Run("EchoServer", "client", "--port", at.Port.ToString(), "--bytes", "3000000");
        Assert.Equal(0, code);
        Assert.Matches(@"^3000000 bytes sent to 127\.0\.0\.1:\d+ and received back identical in \d+ ms$", Assert.Single(stdout));
        Assert.Equal(0, server.Stop());
    }

    [Fact]
    public void EchoClientModeSaysWhenNoServerAnswers()
    {
        using var free = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        free.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)free.LocalEndPoint!).Port; // bound, not listening: connections are refused
        var (code, _, stderr) = SampleProcess.Run("EchoServer", "client", "--port", port.ToString(), "--text", "anyone?");
        Assert.Equal(1, code);
        Assert.Contains($"echo client: 127.0.0.1:{port} sent back 0 of 7 bytes (is an echo server running there?)", string.Join("\n", stderr));
    }

    [Fact]
    public void TheLineServerProgramAnswersLinesAndStopsOnSigterm()
    {
        using var server = SampleProcess.StartServer("LineServer", out IPEndPoint at);
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        s.Connect(at);
        s.Send("hello\r\nQUIT\n"u8.ToArray());
        Assert.Equal("echo: hello\r\nbye\r\n", Encoding.ASCII.GetString(Drive.ReadToEnd(s)));
        Assert.Equal(0, server.Stop());
    }

    public static TheoryData<string, string, string[]> Floods() => new()
    {
        { "LineServer", "a\r\n", [] },
        { "LineServer", "a\n", [] },
        { "EchoServer", "0123456789", [] },
        { "PingServer", "X\r\n", [] },
        { "PingServer", "PING\n", [] },
        { "PingServer", "PING\r\n", ["--poller", "io_uring", "--loops", "2"] },
        { "SmtpServer", "HELP\r\n", ["--maildir", Path.Combine(Path.GetTempPath(), "asyncore-flood-maildir")] },
    };

    /// <summary>
    /// Four clients pipeline up to 16 MB each and never read their answers. The program's memory,
    /// read from /proc, stays under 256 MiB, and a fifth client is served as usual meanwhile.
    /// </summary>
    [Theory]
    [MemberData(nameof(Floods))]
    public async Task ClientsThatNeverReadCostBoundedMemory(string program, string pattern, string[] args)
    {
        using var server = SampleProcess.StartServer(program, out IPEndPoint at, args);
        long before = server.ResidentBytes();
        byte[] bytes = Encoding.ASCII.GetBytes(pattern);
        var floods = Enumerable.Range(0, 4)
            .Select(_ => Task.Run(() => Flood.NeverReading(at, bytes, maxBytes: 16_000_000, stalled: TimeSpan.FromSeconds(1), limit: TimeSpan.FromSeconds(30))))
            .ToArray();
        var flooders = await Task.WhenAll(floods).WaitAsync(TimeSpan.FromSeconds(60));
        long during = server.ResidentBytes();
        try
        {
            Assert.All(flooders, f => Assert.True(f.Sent < 16_000_000, $"{program} read all of a flood it could not answer"));
            Assert.True(during < 256L << 20, $"{program}: {before >> 20} MiB before, {during >> 20} MiB with four clients that never read");
            Assert.True(ServedMeanwhile(program, at), $"{program} did not serve a well-behaved client during the flood");
        }
        finally
        {
            foreach (var f in flooders)
            {
                f.Socket.Dispose();
            }
        }

        Assert.Equal(0, server.Stop());
    }

    private static bool ServedMeanwhile(string program, IPEndPoint at)
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 10_000 };
        s.Connect(at);
        (string send, string expect) = program switch
        {
            "LineServer" => ("hi\r\nQUIT\r\n", "echo: hi\r\nbye\r\n"),
            "EchoServer" => ("hi", "hi"),
            "PingServer" => ("PING\r\nQUIT\r\n", "+PONG\r\n+OK\r\n"),
            _ => ("QUIT\r\n", "221 Bye\r\n"),
        };
        s.Send(Encoding.ASCII.GetBytes(send));
        if (program == "EchoServer")
        {
            byte[] two = new byte[2];
            int got = 0;
            while (got < 2 && s.Receive(two, got, 2 - got, SocketFlags.None) is > 0 and var n)
            {
                got += n;
            }

            return Encoding.ASCII.GetString(two, 0, got) == expect;
        }

        string answer = Encoding.ASCII.GetString(Drive.ReadToEnd(s));
        return program == "SmtpServer" ? answer.EndsWith(expect, StringComparison.Ordinal) : answer == expect;
    }

    /// <summary>Six messages of 16 MiB left unfinished: streamed to tmp/, so the server's memory stays flat.</summary>
    [Fact]
    public async Task UnfinishedBigMessagesDoNotTakeMemory()
    {
        string maildir = Directory.CreateTempSubdirectory("asyncore-maildir-").FullName;
        try
        {
            using var server = SampleProcess.StartServer("SmtpServer", out IPEndPoint at, "--maildir", maildir, "--max-size", "0");
            long before = server.ResidentBytes();
            byte[] block = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(new string('m', 1022) + "\r\n", 1024))); // 1 MiB of lines
            var clients = Enumerable.Range(0, 6).Select(_ => Task.Run(() =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 20_000 };
                s.Connect(at);
                s.Send("HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n"u8.ToArray());
                for (int i = 0; i < 16; i++)
                {
                    s.Send(block);
                }

                return s;
            })).ToArray();
            Socket[] sockets = await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));
            string tmp = Path.Combine(maildir, "tmp");
            Assert.True(
                SpinWait.SpinUntil(() => Directory.GetFiles(tmp) is { Length: 6 } f && f.All(x => new FileInfo(x).Length >= (16 << 20) - (64 << 10)), TimeSpan.FromSeconds(60)),
                "the six messages did not reach tmp/ as they arrived"); // all but the writer's last 64 KiB buffer
            long during = server.ResidentBytes();
            Assert.Empty(Directory.GetFiles(Path.Combine(maildir, "new")));
            Assert.True(during - before < 48L << 20, $"{before >> 20} MiB before, {during >> 20} MiB holding 96 MiB of unfinished messages");
            foreach (var c in sockets)
            {
                c.Dispose();
            }

            Assert.True(SpinWait.SpinUntil(() => Directory.GetFiles(tmp).Length == 0, TimeSpan.FromSeconds(10)), "unfinished messages were left in tmp/");
            Assert.Equal(0, server.Stop());
        }
        finally
        {
            Directory.Delete(maildir, recursive: true);
        }
    }
}
