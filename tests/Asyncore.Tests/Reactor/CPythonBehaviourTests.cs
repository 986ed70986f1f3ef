using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Reactor;

/// <summary>
/// Behaviours that CPython 3.11 decides, checked against CPython itself: the same scenario runs in
/// python3 and here, and the outcomes must match.
/// </summary>
public class CPythonBehaviourTests
{
    private static string Python(string script)
    {
        ProcessStartInfo psi = new("python3", ["-W", "ignore", "-c", script])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(60_000), "python did not finish");
        Assert.True(p.ExitCode == 0, stderr.Result);
        return stdout.Result.Trim();
    }

    /// <summary>Its first send fails; its HandleError records the error and does not close.</summary>
    private sealed class FailsOnce : AsyncChat
    {
        private bool _fail = true;

        public FailsOnce() : base(null, new SocketMap()) => Connected = true;

        public MemoryStream Sent { get; } = new();

        public int Errors { get; private set; }

        public override int Send(ReadOnlySpan<byte> data)
        {
            if (_fail)
            {
                _fail = false;
                throw new SocketException((int)SocketError.NoBufferSpaceAvailable);
            }

            Sent.Write(data);
            return data.Length;
        }

        protected internal override void HandleError(Exception exception) => Errors++;

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
        }
    }

    [NeedsFact(Outside.CPython311)]
    public void PushKeepsItsDataWhenTheFirstSendFailsAndHandleErrorDoesNotClose()
    {
        string cpython = Python("""
            import asynchat
            class C(asynchat.async_chat):
                def __init__(self):
                    asynchat.async_chat.__init__(self)
                    self.connected = True
                    self.fail = True
                    self.sent = b""
                    self.errors = 0
                def send(self, data):
                    if self.fail:
                        self.fail = False
                        raise OSError(105, "No buffer space available")
                    self.sent += bytes(data)
                    return len(data)
                def handle_error(self):
                    self.errors += 1
            c = C()
            c.push(b"hello, world" * 1000)
            while c.producer_fifo:
                c.initiate_send()
            print(len(c.sent), c.errors, c.sent == b"hello, world" * 1000)
            """);

        var ours = new FailsOnce();
        byte[] data = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("hello, world", 1000)));
        ours.Push(data);
        while (ours.Writable())
        {
            ours.InitiateSend();
        }

        Assert.Equal(cpython, $"{ours.Sent.Length} {ours.Errors} {(ours.Sent.ToArray().AsSpan().SequenceEqual(data) ? "True" : "False")}");
    }

    /// <summary>Overrides both predicates and counts how often the loop asks them.</summary>
    private sealed class Counting : Dispatcher
    {
        public Counting(Socket s, SocketMap map) : base(s, map)
        {
        }

        public int R { get; private set; }

        public int W { get; private set; }

        public override bool Readable()
        {
            R++;
            return true;
        }

        public override bool Writable()
        {
            W++;
            return false;
        }

        protected override void HandleRead() => Recv(new byte[100]);
    }

    [NeedsTheory(Outside.CPython311)]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void PredicatesAreAskedOncePerPassAsInCPython(PollerKind kind)
    {
        string cpython = Python("""
            import asyncore, socket
            a, b = socket.socketpair()
            m = {}
            class D(asyncore.dispatcher):
                r = w = 0
                def readable(self):
                    self.r += 1
                    return True
                def writable(self):
                    self.w += 1
                    return False
                def handle_read(self):
                    self.recv(100)
            d = D(a, map=m)
            for i in range(6):
                b.send(b"x")
                asyncore.loop(timeout=1, use_poll=True, map=m, count=1)
            print(d.r, d.w)
            """);

        using var map = new SocketMap();
        var (a, b) = Drive.TcpPair();
        using var peer = b;
        var d = new Counting(a, map);
        for (int i = 0; i < 6; i++)
        {
            b.Send("x"u8);
            EventLoop.Loop(kind, 1.0, map, count: 1);
        }

        Assert.Equal(cpython, $"{d.R} {d.W}");
        d.Close();
    }

    [NeedsFact(Outside.CPython311)]
    public void FindPrefixAtEndMatchesCPython()
    {
        var rnd = new Random(20261202);
        var cases = new List<(string Haystack, string Needle)> { ("", ""), ("abc", ""), ("", "a"), ("a", "a"), ("ab", "abc") };
        for (int i = 0; i < 600; i++)
        {
            cases.Add((Word(rnd, rnd.Next(0, 9)), Word(rnd, rnd.Next(0, 6))));
        }

        string input = string.Join(";", cases.Select(c => $"{c.Haystack},{c.Needle}"));
        string cpython = Python($$"""
            import asynchat
            out = []
            for case in "{{input}}".split(";"):
                h, n = case.split(",")
                out.append(str(asynchat.find_prefix_at_end(h.encode(), n.encode())))
            print(" ".join(out))
            """);
        string ours = string.Join(" ", cases.Select(c => AsyncChat.FindPrefixAtEnd(Encoding.ASCII.GetBytes(c.Haystack), Encoding.ASCII.GetBytes(c.Needle))));
        Assert.Equal(cpython, ours);

        static string Word(Random rnd, int n) => new(Enumerable.Range(0, n).Select(_ => "ab\r\n"[rnd.Next(4)] switch { '\r' => 'c', '\n' => 'd', char c => c }).ToArray());
    }
}
