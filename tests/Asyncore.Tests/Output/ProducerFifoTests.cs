using CsCheck;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Output;

/// <summary>The output side: exactly the bytes pushed, in order, however the socket takes them.</summary>
public class ProducerFifoTests
{
    private sealed class ListProducer : IProducer
    {
        private readonly Queue<byte[]> _blocks;

        public ListProducer(IEnumerable<byte[]> blocks) => _blocks = new Queue<byte[]>(blocks);

        public ReadOnlyMemory<byte> More() => _blocks.Count > 0 ? _blocks.Dequeue() : ReadOnlyMemory<byte>.Empty;
    }

    // An operation: 0 push span, 1 push array, 2 push memory, 3 simple producer, 4 multi-block producer, 5 close when done.
    private static readonly Gen<(int Op, byte[] Data, int Size)> GenOp =
        Gen.Select(Gen.Int[0, 5], Gen.Byte.Array[0, 10_000], Gen.Int[1, 700]);

    [Fact]
    public void DeliversExactlyThePushedBytesInOrder()
    {
        Gen.Select(GenOp.Array[1, 12], Gen.Int[0, 5000].Array[0, 60], Gen.Int[1, 5000], Gen.Bool)
            .Sample((ops, allowances, outSize, startConnected) =>
            {
                var ch = new ScriptedChannel(startConnected) { AcOutBufferSize = outSize };
                ch.Allow(allowances);
                var expected = new MemoryStream();
                bool closeQueued = false;
                foreach (var (op, data, size) in ops)
                {
                    switch (op)
                    {
                        case 0: ch.Push(data.AsSpan()); break;
                        case 1: ch.Push(data); break;
                        case 2: ch.Push(data.AsMemory()); break;
                        case 3: ch.PushWithProducer(new SimpleProducer(data, size)); break;
                        case 4: ch.PushWithProducer(new ListProducer(data.Chunk(size))); break;
                        default:
                            ch.CloseWhenDone();
                            closeQueued = true;
                            break;
                    }

                    if (!closeQueued)
                    {
                        expected.Write(data);
                    }
                    else if (op != 5)
                    {
                        // Data pushed after the close marker is never sent.
                    }
                }

                ch.MarkConnected();
                for (int i = 0; i < 100_000 && ch.Writable() && ch.CloseCalls == 0; i++)
                {
                    ch.Write();
                }

                Assert.Equal(expected.ToArray(), ch.Sent.ToArray());
                Assert.Equal(closeQueued ? 1 : 0, ch.CloseCalls);
            }, iter: 400);
    }

    [Fact]
    public void PushSplitsAtAcOutBufferSizeAsCPythonDoes()
    {
        var ch = new ScriptedChannel(connected: false) { AcOutBufferSize = 4 };
        ch.Push("abcdefghij"u8);
        Assert.Equal(3, (int)Math.Ceiling(ch.OutgoingBytes / 4.0));
        ch.MarkConnected();
        ch.Write();
        Assert.Equal("abcd", System.Text.Encoding.ASCII.GetString(ch.Sent.ToArray()));
        ch.Write();
        ch.Write();
        Assert.Equal("abcdefghij", System.Text.Encoding.ASCII.GetString(ch.Sent.ToArray()));
        Assert.Equal(3, ch.SendCalls);
    }

    [Fact]
    public void OneSendPerInitiateSend()
    {
        var ch = new ScriptedChannel(connected: false);
        ch.Push("one"u8);
        ch.Push("two"u8);
        ch.MarkConnected();
        ch.InitiateSend();
        Assert.Equal("one", System.Text.Encoding.ASCII.GetString(ch.Sent.ToArray()));
        Assert.Equal(1, ch.SendCalls);
    }

    [Fact]
    public void PushWhileConnectedSendsAtOnce()
    {
        var ch = new ScriptedChannel();
        ch.Push("now"u8);
        Assert.Equal("now", System.Text.Encoding.ASCII.GetString(ch.Sent.ToArray()));
        Assert.False(ch.Writable());
    }

    [Fact]
    public void PartialSendKeepsTheRest()
    {
        var ch = new ScriptedChannel();
        ch.Allow(2, 0, 1);
        ch.Push("hello"u8);
        Assert.Equal(3, ch.OutgoingBytes);
        ch.Write(); // would block
        ch.Write();
        ch.Write();
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(ch.Sent.ToArray()));
        Assert.Equal(0, ch.OutgoingBytes);
    }

    [Fact]
    public void CloseWhenDoneClosesOnlyAfterEverythingBeforeItWasSent()
    {
        var ch = new ScriptedChannel();
        ch.Allow(0, 1, 1, 1);
        ch.Push("abc"u8);
        ch.CloseWhenDone();
        ch.Write();
        ch.Write();
        Assert.Equal(0, ch.CloseCalls);
        ch.Write();
        Assert.Equal(0, ch.CloseCalls);
        ch.Write(); // the close marker
        Assert.Equal(1, ch.CloseCalls);
        Assert.Equal("abc", System.Text.Encoding.ASCII.GetString(ch.Sent.ToArray()));
    }

    [Fact]
    public void DiscardBuffersDropsInputAndOutput()
    {
        var ch = new ScriptedChannel(connected: false);
        ch.SetTerminator("\r\n"u8);
        ch.Push("queued"u8);
        ch.PushWithProducer(new SimpleProducer("more"u8.ToArray()));
        ch.CloseWhenDone();
        ch.DiscardBuffers();
        ch.MarkConnected();
        Assert.False(ch.Writable());
        ch.Write();
        Assert.Equal(0, ch.Sent.Length);
        Assert.Equal(0, ch.CloseCalls);
    }

    [Fact]
    public void SimpleProducerHandsOutBufferSizeBlocks()
    {
        var p = new SimpleProducer("abcdefghij"u8.ToArray(), bufferSize: 4);
        Assert.Equal("abcd"u8.ToArray(), p.More().ToArray());
        Assert.Equal("efgh"u8.ToArray(), p.More().ToArray());
        Assert.Equal("ij"u8.ToArray(), p.More().ToArray());
        Assert.True(p.More().IsEmpty);
    }
}
