using System.Net.Sockets;
using Asyncore.Tests.Support;
using CsCheck;

namespace Asyncore.Tests.Framing;

/// <summary>
/// Reading ahead: a channel whose reads keep coming back full asks for more per read (up to 64 KiB,
/// whatever its AcInBufferSize). Over a real loopback socket on every backend, however the peer
/// writes, the messages are exactly those of one-shot delivery.
/// </summary>
public class ReadAheadTests
{
    private static readonly Gen<Terminator[]> GenProgram = Gen.Int[1, 4].SelectMany(n => Gen.OneOf(
        SplitInvarianceTests.GenTerminator,
        Gen.Int[0, 100_000].Select(c => Terminator.FromCount(c))).Array[n]);

    private static readonly Gen<byte[]> GenStream = Gen.Int[0, 400_000].SelectMany(n => Gen.OneOf(
        Gen.Int[0, 4].Select(i => "a\r\n.b"u8[i]).Array[n],
        Gen.Int[0, 4].Select(i => "<END>"u8[i]).Array[n]));

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AnySplitYieldsTheMessagesOfOneShotDelivery(PollerKind kind)
    {
        Gen.Select(GenStream, GenProgram, Gen.Int[1, 9000], Gen.Int[1, 200_000].Array[1, 30], Gen.Bool)
            .Sample((stream, program, inSize, writes, pauses) =>
            {
                List<byte[]> expected = FramerDriver.Run(stream, [], program).Target.Messages();
                Receiver r = Receive(kind, stream, inSize, writes, pauses, program);
                Assert.Equal(expected.Count, r.Messages.Count);
                Assert.Equal(expected, r.Messages);
            }, iter: 12, threads: 1);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AFastStreamIsReadMoreThanAcInBufferSizeAtATime(PollerKind kind)
    {
        byte[] stream = new byte[8 * 1024 * 1024];
        Receiver r = Receive(kind, stream, 4096, [1 << 20], pauses: false, [Terminator.None], countOnly: true);
        Assert.Equal(stream.Length, r.Total);
        Assert.True(r.LargestCollect > 4096, $"largest read {r.LargestCollect}");
        Assert.True(r.LargestCollect <= AsyncChat.ReadAheadLimit, $"largest read {r.LargestCollect}");
        if (r.HasUringReceiver())
        {
            Assert.True(r.UringReceivesLarge()); // its ring receive moved to the 64 KiB buffers
        }
    }

    /// <summary>A peer whose requests are answered is read AcInBufferSize at a time: the answers of one read stay bounded.</summary>
    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AChannelThatAnswersWhatItReadsIsNotReadAhead(PollerKind kind)
    {
        byte[] stream = new byte[4 * 1024 * 1024];
        Receiver r = Receive(kind, stream, 4096, [1 << 20], pauses: false, [Terminator.None], countOnly: true, answer: true);
        Assert.Equal(stream.Length, r.Total);
        Assert.True(r.LargestCollect <= 4096, $"largest read {r.LargestCollect}");
        Assert.False(r.UringReceivesLarge());
    }

    [Fact]
    public void ARecvOverrideIsAskedForAcInBufferSize()
    {
        var ch = new ScriptedChannel();
        ch.AcInBufferSize = 10;
        for (int i = 0; i < 8; i++)
        {
            ch.Incoming.Enqueue(new byte[10]); // full reads, one after another
        }

        ch.Read();
        Assert.Equal(8, ch.Collected.Count); // each read asked for 10 bytes
        Assert.All(ch.Collected, c => Assert.Equal(10, c.Length));
    }

    private static Receiver Receive(PollerKind kind, byte[] stream, int inSize, int[] writes, bool pauses, Terminator[] program, bool countOnly = false, bool answer = false)
    {
        var (a, b) = Drive.TcpPair();
        using var map = new SocketMap();
        using (b)
        {
            var r = new Receiver(a, map, program) { AcInBufferSize = inSize, CountOnly = countOnly, Answer = answer };
            var writer = Task.Run(() =>
            {
                int at = 0;
                for (int i = 0; at < stream.Length; i++)
                {
                    int n = Math.Min(writes[i % writes.Length], stream.Length - at);
                    b.Send(stream, at, n, SocketFlags.None);
                    at += n;
                    if (pauses && i % 3 == 0)
                    {
                        Thread.Sleep(1);
                    }
                }

                b.Shutdown(SocketShutdown.Send);
            });
            Drive.Until(map, () => r.Closed, seconds: 30, kind: kind, passTimeout: 0.005);
            Assert.True(writer.Wait(TimeSpan.FromSeconds(5)));
            Assert.True(r.Closed, "the end of the stream was never seen");
            r.Messages.Add([.. r.Current]);
            return r;
        }
    }

    private sealed class Receiver : AsyncChat
    {
        private readonly Terminator[] _program;
        private int _step;

        public Receiver(Socket socket, SocketMap map, Terminator[] program) : base(socket, map)
        {
            _program = program;
            SetTerminator(program[0]);
        }

        public List<byte[]> Messages { get; } = new();

        public List<byte> Current { get; } = new();

        public int LargestCollect { get; private set; }

        public long Total { get; private set; }

        public bool CountOnly { get; init; }

        public bool Answer { get; init; }

        public bool Closed { get; private set; }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
            Assert.False(data.IsEmpty);
            LargestCollect = Math.Max(LargestCollect, data.Length);
            Total += data.Length;
            if (Answer)
            {
                Push("+"u8); // one answer per read: output is queued after each
            }

            if (!CountOnly)
            {
                Current.AddRange(data.ToArray());
            }
        }

        protected override void FoundTerminator()
        {
            Messages.Add([.. Current]);
            Current.Clear();
            _step++;
            SetTerminator(_program[_step % _program.Length]);
        }

        protected internal override void HandleClose()
        {
            Closed = true;
            base.HandleClose();
        }
    }
}
