using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Asyncore.Tests.Support;
using Asyncore.Tls;
using Asyncore.Tls.OpenSsl;

namespace Asyncore.Tests.Tls;

/// <summary>
/// A line server made TLS with <see cref="Dispatcher.StartTls(SslServerAuthenticationOptions)"/>, over
/// real loopback with real clients: openssl s_client (1.2 and 1.3), Python's ssl, .NET's SslStream.
/// </summary>
public sealed class TlsChannelTests
{
    private static readonly TestCertificate Cert = TestCertificate.Shared;

    /// <summary>A client with Python's ssl module over memory BIOs: sends argv[2] (escaped), reads to the end, and tells close_notify (b'' or SSLZeroReturnError) from a ragged end (SSLEOFError).</summary>
    private const string PythonLines = """
import socket, ssl, sys
port, payload = int(sys.argv[1]), sys.argv[2].encode().decode('unicode_escape').encode('latin-1')
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(('127.0.0.1', port), timeout=20)
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname='localhost')
def pump():
    data = outgoing.read()
    if data: raw.sendall(data)
def fill():
    data = raw.recv(65536)
    if not data: incoming.write_eof()
    else: incoming.write(data)
    return bool(data)
while True:
    try: tls.do_handshake(); break
    except ssl.SSLWantReadError: pump(); fill()
pump()
tls.write(payload); pump()
got = b''
end = 'ragged'
while True:
    try:
        chunk = tls.read(65536)
        if not chunk: end = 'close_notify'; break  # SSLObject.read answers b'' once close_notify came
        got += chunk
    except ssl.SSLWantReadError:
        if not fill(): continue
    except ssl.SSLZeroReturnError:
        end = 'close_notify'; break
    except ssl.SSLEOFError:
        end = 'ragged'; break
sys.stdout.write(tls.version() + ' ' + end + ' ' + str(len(got)) + '\n')
sys.stdout.buffer.write(got)
""";

    [NeedsTheory(Outside.OpenSsl)]
    [InlineData("-tls1_2", "Tls12")]
    [InlineData("-tls1_3", "Tls13")]
    public void OpensslSClientTalksOverEachVersion(string flag, string protocol)
    {
        using var server = new TlsLineServer(Cert.ServerOptions());
        (int code, string output, string err) = Tool.Run("openssl", ["s_client", "-connect", $"127.0.0.1:{server.Address.Port}", flag, "-servername", "localhost", "-quiet"], "hello tls\r\nsecond line\r\nQUIT\r\n");
        Assert.True(code == 0, err);
        Assert.Equal("HELLO TLS\r\nSECOND LINE\r\nBYE\r\n", output);
        Assert.Contains(server.Events, e => e.StartsWith($"established {protocol} ", StringComparison.Ordinal) && e.EndsWith("sni=localhost", StringComparison.Ordinal));
    }

    [NeedsTheory(Outside.Python3)]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void PythonSslGetsLongAnswersAndCloseNotify(PollerKind kind)
    {
        using var server = new TlsLineServer(Cert.ServerOptions(), kind);
        string output = Tool.Python(PythonLines, server.Address.Port.ToString(), @"one\r\nBIG 200000\r\ntwo\r\nQUIT\r\n");
        string[] head = output[..output.IndexOf('\n')].Split(' ');
        string body = output[(output.IndexOf('\n') + 1)..];
        Assert.Equal("TLSv1.3", head[0]);
        Assert.Equal("close_notify", head[1]); // CloseWhenDone ended the session with close_notify, not a bare FIN
        string big = string.Concat(Enumerable.Range(0, 200000).Select(i => (char)('a' + (i % 26))));
        Assert.Equal("ONE\r\n" + big + "\r\nTWO\r\nBYE\r\n", body);
    }

    /// <summary>
    /// The classic trap: 300 lines come in a few records, the channel reads 16 bytes at a time, and the
    /// client sends nothing more until all 300 answers are in. Every line must be answered although
    /// the socket turns readable no more: the plaintext waits inside the engine.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void PlaintextHeldByTheEngineIsReadWithoutAnotherReadinessEvent(PollerKind kind)
    {
        using var server = new TlsLineServer(Cert.ServerOptions(), kind, inBufferSize: 16);
        var lines = Enumerable.Range(0, 300).Select(i => $"line {i} of the batch").ToArray();
        using var client = Connect(server.Address);
        client.Write(Encoding.ASCII.GetBytes(string.Concat(lines.Select(l => l + "\r\n"))));
        client.Flush();
        string expected = string.Concat(lines.Select(l => l.ToUpperInvariant() + "\r\n"));
        Assert.Equal(expected, ReadExactly(client, expected.Length));
    }

    public static TheoryData<PollerKind, string> KindsAndEngines()
    {
        var data = new TheoryData<PollerKind, string>();
        foreach (PollerKind kind in Backends.All)
        {
            data.Add(kind, "openssl");
            data.Add(kind, "sslstream");
        }

        return data;
    }

    [NeedsTheory(Outside.Python3)]
    [MemberData(nameof(KindsAndEngines))]
    public void EveryCallbackAndEveryTlsStepRunsOnTheLoopThread(PollerKind kind, string engineName)
    {
        var options = Cert.ServerOptions(); // this instance alone gets the observed engine
        TlsLineServer? observing = null;
        Func<SslServerAuthenticationOptions, ITlsEngine?> source = o => ReferenceEquals(o, options)
            ? new ObservedEngine(engineName == "openssl" ? new OpenSslEngine(o) : SslStreamEngine.CreateServer(o), step => observing!.Record(step))
            : null;
        TlsEngineFactory.AddServerSource(source);
        try
        {
            using var server = observing = new TlsLineServer(options, kind, inBufferSize: 64);
            RunEveryStepOnTheLoop(server, engineName);
        }
        finally
        {
            TlsEngineFactory.RemoveServerSource(source);
        }
    }

    private static void RunEveryStepOnTheLoop(TlsLineServer server, string engineName)
    {
        using (var client = Connect(server.Address))
        {
            client.Write("first\r\nBIG 70000\r\n"u8);
            client.Flush();
            string answer = ReadExactly(client, "FIRST\r\n".Length + 70002);
            Assert.StartsWith("FIRST\r\nabcdefghijklmnopqrstuvwxyzabc", answer);
            Assert.EndsWith("\r\n", answer);
            client.Write("QUIT\r\n"u8);
            client.Flush();
            Assert.Equal("BYE\r\n", ReadExactly(client, 5));
        }

        string output = Tool.Python(PythonLines, server.Address.Port.ToString(), @"x\r\nQUIT\r\n");
        Assert.EndsWith("X\r\nBYE\r\n", output);
        Assert.True(SpinWait.SpinUntil(() => server.Steps.Count(s => s.Step == "close") == 2, 10_000));

        var steps = server.Steps.ToArray();
        string[] transport = engineName == "sslstream" ? ["transport read", "transport feed", "transport write"] : [];
        foreach (string needed in (string[])["accepted", "engine handshake", "engine feed", "engine take", "engine read", "engine write", "engine shutdown", .. transport, "handshake complete", "collect", "found terminator", "close"])
        {
            Assert.Contains(steps, s => s.Step == needed);
        }

        Assert.All(steps, s => Assert.True(s.Thread == server.LoopThreadId, $"{s.Step} ran on thread {s.Thread}, the loop is {server.LoopThreadId}"));
    }

    [Theory]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring)] // the clear text came through the ring's receive, the handshake after it
    public void StartTlsDropsWhatTheClientPipelinedBehindTheCommand(PollerKind kind)
    {
        using var server = new TlsLineServer(Cert.ServerOptions(), kind, startTls: false);
        using var tcp = new TcpClient();
        tcp.Connect(server.Address);
        NetworkStream raw = tcp.GetStream();
        raw.ReadTimeout = 10_000;
        raw.Write("hello\r\nSTARTTLS\r\nINJECTED\r\n"u8); // one segment: the injection rides behind the command
        byte[] clear = new byte[11];
        raw.ReadExactly(clear);
        Assert.Equal("HELLO\r\nGO\r\n", Encoding.ASCII.GetString(clear));
        using var tls = new SslStream(raw, leaveInnerStreamOpen: true);
        tls.AuthenticateAsClient(Cert.ClientOptions());
        tls.Write("after\r\n"u8);
        tls.Flush();
        Assert.Equal("AFTER\r\n", ReadExactly(tls, 7));
        Assert.Equal(["hello", "STARTTLS", "after"], server.Lines.ToArray());
    }

    [NeedsTheory(Outside.OpenSsl)]
    [InlineData("-tls1_2", SslProtocols.Tls12)]
    [InlineData("-tls1_3", SslProtocols.Tls13)]
    public void TheLibrarysOwnTlsClientTalksToOpensslSServer(string flag, SslProtocols expected)
    {
        int port = FreePort();
        var psi = new System.Diagnostics.ProcessStartInfo("openssl", ["s_server", "-accept", $"127.0.0.1:{port}", "-cert", Cert.CertPath, "-key", Cert.KeyPath, flag, "-rev"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var s_server = System.Diagnostics.Process.Start(psi)!;
        try
        {
            var output = new StringBuilder();
            s_server.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
            s_server.BeginOutputReadLine();
            Assert.True(SpinWait.SpinUntil(() => { lock (output) { return output.ToString().Contains("ACCEPT"); } }, 10_000), "s_server did not start");

            var done = new Answer();
            SslProtocols seen = SslProtocols.None;
            var threads = new System.Collections.Concurrent.ConcurrentBag<int>();
            int loopThread = 0;
            using (new LoopThread(map =>
            {
                loopThread = Environment.CurrentManagedThreadId;
                var client = new ReversingClient(map, done, threads);
                client.Connect(new IPEndPoint(IPAddress.Loopback, port));
                client.StartTls(Cert.ClientOptions());
                client.Push("hello asyncore\n"u8);
                client.Seen = p => seen = p;
            }))
            {
                Assert.True(done.Ready.Wait(15_000), "no answer from s_server");
                Assert.Equal("erocnysa olleh", done.Text);
            }

            Assert.Equal(expected, seen);
            Assert.All(threads, t => Assert.Equal(loopThread, t));
        }
        finally
        {
            s_server.Kill();
            s_server.WaitForExit(5000);
        }
    }

    private sealed class Answer
    {
        public readonly ManualResetEventSlim Ready = new();
        public volatile string? Text;

        public void Set(string text)
        {
            Text = text;
            Ready.Set();
        }
    }

    private sealed class ReversingClient(SocketMap map, Answer done, System.Collections.Concurrent.ConcurrentBag<int> threads) : AsyncChat(null, map)
    {
        private readonly StringBuilder _line = new();

        public Action<SslProtocols>? Seen;

        public void Connect(IPEndPoint at)
        {
            CreateSocket();
            base.Connect(at);
            SetTerminator("\n"u8);
        }

        protected override void HandleConnect() => threads.Add(Environment.CurrentManagedThreadId);

        protected override void HandleTlsHandshakeComplete()
        {
            threads.Add(Environment.CurrentManagedThreadId);
            Seen?.Invoke(TlsProtocol);
        }

        protected override void HandleTlsHandshakeFailed(Exception error) => done.Set("failed: " + error.Message);

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
            threads.Add(Environment.CurrentManagedThreadId);
            _line.Append(Encoding.ASCII.GetString(data));
        }

        protected override void FoundTerminator()
        {
            done.Set(_line.ToString().TrimEnd('\r'));
            Close(); // close_notify goes out first
        }
    }

    internal static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>
    /// A client that sends its request and then half-closes (FIN), as `nc -N` or a batch client does,
    /// gets the whole answer: the channel goes on sending after the peer's end of stream until its queue
    /// and the engine's last encrypted records are out, and only then closes. The client reads slowly at
    /// first, so the socket fills and records wait behind it when the queue empties.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AClientThatHalfClosesAfterItsRequestGetsTheWholeAnswer(PollerKind kind)
    {
        using var server = new TlsLineServer(Cert.ServerOptions(), kind, sendBufferSize: 8 * 1024);
        using var tcp = new TcpClient { ReceiveBufferSize = 16 * 1024 };
        tcp.Connect(server.Address);
        tcp.ReceiveTimeout = 20_000;
        using var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        ssl.AuthenticateAsClient(Cert.ClientOptions());
        const int n = 1_000_000;
        ssl.Write(Encoding.ASCII.GetBytes($"BIG {n}\r\n"));
        ssl.Flush();
        tcp.Client.Shutdown(SocketShutdown.Send);
        Thread.Sleep(300);
        long total = 0;
        byte[] buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = ssl.Read(buffer)) > 0)
            {
                total += read;
            }
        }
        catch (IOException)
        {
            // an end without close_notify; the count below says whether anything was lost
        }

        Assert.Equal(n + 2, total);
        Assert.True(SpinWait.SpinUntil(() => server.Events.Contains("closed"), 10_000), "the server did not close after sending");
    }

    /// <summary>Python's ssl connects twice, offering the first session the second time, and prints whether each was resumed.</summary>
    private const string PythonResume = """
import socket, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def once(session=None):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="localhost", session=session)
    s.sendall(b"hi\r\n")
    s.recv(100)  # a TLS 1.3 ticket arrives after the handshake; reading the answer takes it in
    reused, session = s.session_reused, s.session
    s.close()
    return reused, session
first, session = once()
second, _ = once(session)
print(first, second)
""";

    /// <summary>
    /// Resumption as nginx has it: allowed (the default), a returning client resumes with the ticket it
    /// was given; with <c>AllowTlsResume = false</c> every handshake is a full one.
    /// </summary>
    [NeedsTheory(Outside.Python3)]
    [InlineData(true)]
    [InlineData(false)]
    public void SessionsResumeOnlyWhenAllowed(bool allow)
    {
        var options = Cert.ServerOptions();
        options.AllowTlsResume = allow;
        using var server = new TlsLineServer(options);
        string output = Tool.Python(PythonResume, server.Address.Port.ToString()).Trim();
        if (allow && TlsEngineFactory.DefaultEngineName == "sslstream")
        {
            // Whether SslStream resumes on the server side is the runtime's choice; only refusal is ours to prove there.
            Assert.StartsWith("False ", output);
            return;
        }

        Assert.Equal(allow ? "False True" : "False False", output);
    }

    /// <summary>
    /// A client that asks to renegotiate (openssl s_client's "R" over TLS 1.2) is refused, as nginx and
    /// SslStream's defaults refuse it: the channel closes with one log line, not an error with a stack
    /// trace, and leaves the map (its socket closed, no CLOSE-WAIT left behind), whichever engine serves.
    /// </summary>
    [NeedsTheory(Outside.OpenSsl)]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void ARefusedRenegotiationClosesTheChannelAndFreesItsSocket(PollerKind kind)
    {
        using var server = new TlsLineServer(Cert.ServerOptions(), kind);
        Tool.Run("openssl", ["s_client", "-connect", $"127.0.0.1:{server.Address.Port}", "-tls1_2"], stdin: "R\n", timeoutMs: 20_000);
        Assert.True(
            SpinWait.SpinUntil(() => server.Loop.OnLoop(() => server.Loop.Map.Count) == 1, 10_000),
            $"the channel is still in the map; events: {string.Join(" | ", server.Events)}");
        Assert.DoesNotContain(server.Events, e => e.StartsWith("error", StringComparison.Ordinal));
    }

    internal static SslStream Connect(IPEndPoint at)
    {
        var tcp = new TcpClient();
        tcp.Connect(at);
        tcp.ReceiveTimeout = 20_000;
        var ssl = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        ssl.AuthenticateAsClient(Cert.ClientOptions());
        return ssl;
    }

    internal static string ReadExactly(Stream s, int count)
    {
        byte[] buffer = new byte[count];
        s.ReadExactly(buffer);
        return Encoding.Latin1.GetString(buffer);
    }
}
