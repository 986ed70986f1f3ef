using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Asyncore.Tests.Conformance;
using Asyncore.Tests.Framing;
using Asyncore.Tests.Support;
using CsCheck;

namespace Asyncore.Tests.Tls;

/// <summary>
/// The framing properties over TLS: random streams and terminator programs, sent as one TLS record per
/// random chunk to an AsyncChat that reads a random few bytes at a time (so records are split and
/// merged, and plaintext waits inside the engine), give exactly the messages of one-shot delivery,
/// and the CPython oracle's cases give CPython's messages and terminators.
/// </summary>
public sealed class TlsFramingTests : IDisposable
{
    private readonly ProgramServer _server = new();

    public void Dispose() => _server.Dispose();

    [Fact]
    public void ChunkingIntoRecordsNeverChangesTheMessages()
    {
        Gen.Select(SplitInvarianceTests.GenStream, SplitInvarianceTests.GenProgram, Gen.Int[0, 400].Array[0, 20], Gen.Int[1, 40])
            .Sample((stream, program, cuts, readSize) =>
            {
                List<byte[]> expected = FramerDriver.Run(stream, [], program).Target.Messages();
                var events = _server.Exchange(Chunks(stream, cuts), program, readSize);
                Assert.Equal(expected, Messages(events));
            }, iter: 60, threads: 1);
    }

    [NeedsFact(Outside.CPython311)]
    public void CPythonOracleCasesGiveCPythonsMessagesOverTls()
    {
        var cases = new List<(byte[][] Chunks, Terminator[] Program, int ReadSize)>();
        Gen.Select(SplitInvarianceTests.GenStream, SplitInvarianceTests.GenProgram, Gen.Int[0, 300].Array[0, 30], Gen.Int[1, 64])
            .Sample((stream, program, cuts, readSize) => cases.Add((Chunks(stream, cuts), program, readSize)), iter: 60, threads: 1);

        var json = new JsonArray(cases.Select(c => (JsonNode)new JsonObject
        {
            ["chunks"] = new JsonArray(c.Chunks.Select(ch => (JsonNode)Convert.ToHexStringLower(ch)).ToArray()),
            ["program"] = new JsonArray(c.Program.Select(CPythonOracleTests.Encode).ToArray()),
        }).ToArray());
        JsonArray traces = JsonNode.Parse(CPythonOracleTests.RunPython(json.ToJsonString()))!.AsArray();

        for (int i = 0; i < cases.Count; i++)
        {
            var ours = _server.Exchange(cases[i].Chunks, cases[i].Program, cases[i].ReadSize);
            // Chunk boundaries differ over TLS (records merge and split), so compare what they cannot
            // change: the bytes between terminators and the terminator in force at each.
            string theirs = Collapse(traces[i]!.AsArray().Select(e => e!.AsArray()).Select(e => ((string)e[0]!, e[0]!.ToString() == "c" ? Convert.FromHexString((string)e[1]!) : null, e[0]!.ToString() == "f" ? e[1]?.ToJsonString() : null)));
            string mine = Collapse(ours.Select(e => (e.Kind == 'c' ? "c" : "f", e.Kind == 'c' ? e.Data : null, e.Kind == 'f' ? CPythonOracleTests.Encode(e.At)?.ToJsonString() : null)));
            Assert.True(theirs == mine, $"case {i} (read size {cases[i].ReadSize}): CPython {theirs}\nours over TLS {mine}");
        }
    }

    private static string Collapse(IEnumerable<(string Kind, byte[]? Data, string? At)> events)
    {
        var text = new System.Text.StringBuilder();
        var current = new List<byte>();
        foreach (var (kind, data, at) in events)
        {
            if (kind == "c")
            {
                current.AddRange(data!);
            }
            else
            {
                text.Append('[').Append(Convert.ToHexStringLower(current.ToArray())).Append("] found ").Append(at ?? "null").Append("; ");
                current.Clear();
            }
        }

        return text.Append('[').Append(Convert.ToHexStringLower(current.ToArray())).Append(']').ToString();
    }

    private static byte[][] Chunks(byte[] stream, int[] cuts)
    {
        var chunks = new List<byte[]>();
        int at = 0;
        foreach (int cut in cuts.Where(c => c > 0 && c < stream.Length).Distinct().Order().Append(stream.Length))
        {
            chunks.Add(stream[at..cut]);
            at = cut;
        }

        return chunks.Where(c => c.Length > 0).ToArray();
    }

    private static List<byte[]> Messages(List<(char Kind, byte[] Data, Terminator At)> events)
    {
        var messages = new List<byte[]>();
        var current = new List<byte>();
        foreach (var e in events)
        {
            if (e.Kind == 'c')
            {
                current.AddRange(e.Data);
            }
            else
            {
                messages.Add(current.ToArray());
                current.Clear();
            }
        }

        messages.Add(current.ToArray());
        return messages;
    }

    /// <summary>A TLS listener whose next connection runs the next terminator program and reports its events when the client ends.</summary>
    private sealed class ProgramServer : IDisposable
    {
        private readonly LoopThread _loop;
        private readonly ConcurrentQueue<(Terminator[] Program, int ReadSize)> _next = new();
        private readonly BlockingCollection<List<(char Kind, byte[] Data, Terminator At)>> _done = new();
        private IPEndPoint _address = null!;

        public ProgramServer()
        {
            _loop = new LoopThread(map =>
            {
                var listener = new Listener(this, map);
                _address = (IPEndPoint)listener.Socket!.LocalEndPoint!;
            });
        }

        public void Dispose() => _loop.Dispose();

        public List<(char Kind, byte[] Data, Terminator At)> Exchange(byte[][] chunks, Terminator[] program, int readSize)
        {
            _next.Enqueue((program, readSize));
            using (var tcp = new TcpClient())
            {
                tcp.Connect(_address);
                using var ssl = new SslStream(tcp.GetStream());
                ssl.AuthenticateAsClient(TestCertificate.Shared.ClientOptions());
                foreach (byte[] chunk in chunks)
                {
                    ssl.Write(chunk); // one record per chunk
                }

                ssl.Flush();
                ssl.ShutdownAsync().GetAwaiter().GetResult(); // close_notify: the server reports then
                tcp.Client.ReceiveTimeout = 10_000;
                byte[] rest = new byte[256];
                while (ssl.Read(rest) > 0)
                {
                }
            }

            Assert.True(_done.TryTake(out var events, TimeSpan.FromSeconds(10)), $"the server did not report ({chunks.Length} chunks of {string.Join(",", chunks.Select(c => c.Length))}, program {string.Join(" ", program)}, read size {readSize})");
            return events!;
        }

        private sealed class Listener : Dispatcher
        {
            private readonly ProgramServer _server;

            public Listener(ProgramServer server, SocketMap map) : base(null, map)
            {
                _server = server;
                CreateSocket();
                Bind(new IPEndPoint(IPAddress.Loopback, 0));
                Listen(16);
            }

            public override bool Writable() => false;

            protected override void HandleAccepted(Socket socket, EndPoint address)
            {
                Assert.True(_server._next.TryDequeue(out var job));
                var channel = new ProgramChannel(socket, Map, job.Program, _server._done) { AcInBufferSize = job.ReadSize };
                channel.StartTls(TestCertificate.Shared.ServerOptions());
            }
        }

        private sealed class ProgramChannel : AsyncChat
        {
            private readonly Terminator[] _program;
            private readonly BlockingCollection<List<(char Kind, byte[] Data, Terminator At)>> _done;
            private readonly List<(char Kind, byte[] Data, Terminator At)> _events = new();
            private int _step;

            public ProgramChannel(Socket socket, SocketMap map, Terminator[] program, BlockingCollection<List<(char, byte[], Terminator)>> done) : base(socket, map)
            {
                _program = program;
                _done = done;
                SetTerminator(program[0]);
            }

            protected override void CollectIncomingData(ReadOnlySpan<byte> data) => _events.Add(('c', data.ToArray(), default));

            protected override void FoundTerminator()
            {
                _events.Add(('f', [], GetTerminator()));
                _step++;
                SetTerminator(_program[_step % _program.Length]);
            }

            protected internal override void HandleClose()
            {
                _done.Add(_events);
                Close();
            }
        }
    }
}
