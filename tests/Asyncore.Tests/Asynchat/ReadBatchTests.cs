using Asyncore.Tests.Support;

namespace Asyncore.Tests.Asynchat;

/// <summary>
/// AsyncChat's read loop: while a read fills all of <see cref="AsyncChat.AcInBufferSize"/>, the
/// channel reads again in the same event, at most 16 reads or 256 KiB, each read framed before the
/// next; a short read, would-block, a close or paused reading ends the event.
/// </summary>
public class ReadBatchTests
{
    private static byte[] Chunk(int size, byte fill) => Enumerable.Repeat(fill, size).ToArray();

    [Fact]
    public void FullReadsAreReadAgainUpToSixteenPerEvent()
    {
        var ch = new ScriptedChannel();
        ch.SetTerminator((byte[]?)null);
        for (int i = 0; i < 20; i++)
        {
            ch.Incoming.Enqueue(Chunk(4096, (byte)i));
        }

        ch.Read();
        Assert.Equal(4, ch.Incoming.Count);
        Assert.Equal(16, ch.Collected.Count);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => (byte)i), ch.Collected.Select(c => c[0]));
        Assert.All(ch.Collected, c => Assert.Equal(4096, c.Length)); // each read framed by itself, as over 16 events

        ch.Read();
        Assert.Empty(ch.Incoming);
        Assert.Equal(20, ch.Collected.Count);
    }

    [Fact]
    public void AShortReadEndsTheEvent()
    {
        var ch = new ScriptedChannel();
        ch.SetTerminator((byte[]?)null);
        ch.Incoming.Enqueue(Chunk(4096, 1));
        ch.Incoming.Enqueue(Chunk(100, 2));
        ch.Incoming.Enqueue(Chunk(4096, 3));

        ch.Read();
        Assert.Equal([4096, 100], ch.Collected.Select(c => c.Length));
        Assert.Single(ch.Incoming);
    }

    [Fact]
    public void AnEventTakesAtMost256KiB()
    {
        var ch = new ScriptedChannel { AcInBufferSize = 64 * 1024 };
        ch.SetTerminator((byte[]?)null);
        for (int i = 0; i < 6; i++)
        {
            ch.Incoming.Enqueue(Chunk(64 * 1024, (byte)i));
        }

        ch.Read();
        Assert.Equal(4, ch.Collected.Count);
        Assert.Equal(2, ch.Incoming.Count);
    }

    [Fact]
    public void FramingAcrossTheReadsOfOneEventIsThatOfSeparateEvents()
    {
        // "\r\n" split across two full reads: the CR is carried to the next read of the same event.
        byte[] first = [.. Chunk(4095, (byte)'a'), (byte)'\r'];
        byte[] second = [(byte)'\n', .. Chunk(4093, (byte)'b'), (byte)'\r', (byte)'\n'];
        var ch = new ScriptedChannel();
        ch.SetTerminator("\r\n"u8);
        ch.Incoming.Enqueue(first);
        ch.Incoming.Enqueue(second);

        ch.Read();
        Assert.Equal(2, ch.Found);
        Assert.Equal([4095, 4093], ch.Collected.Select(c => c.Length));
        Assert.Empty(ch.Incoming);
    }

    [Fact]
    public void AChannelClosedByItsCallbackReadsNoMore()
    {
        var ch = new ChunkChannel();
        ch.OnCollect = ch.Close;
        ch.Incoming.Enqueue(Chunk(4096, 1));
        ch.Incoming.Enqueue(Chunk(4096, 2));

        ch.Read();
        Assert.Equal(1, ch.Reads);
        Assert.Single(ch.Incoming);
    }

    [Fact]
    public void AChannelThatStopsReadingReadsNoMoreInTheEvent()
    {
        // Readable() false (as when output passes the high-water mark) ends the event after that read.
        var ch = new ChunkChannel();
        ch.OnCollect = () => ch.Open = ch.Reads < 3;
        for (int i = 0; i < 10; i++)
        {
            ch.Incoming.Enqueue(Chunk(4096, (byte)i));
        }

        ch.Read();
        Assert.Equal(3, ch.Reads);
        Assert.Equal(7, ch.Incoming.Count);
    }

    private sealed class ChunkChannel : AsyncChat
    {
        public ChunkChannel() : base(null, new SocketMap()) => Connected = true;

        public Action? OnCollect { get; set; }

        public bool Open { get; set; } = true;

        public Queue<byte[]> Incoming { get; } = new();

        public int Reads { get; private set; }

        public override int Recv(Span<byte> buffer)
        {
            if (Incoming.Count == 0)
            {
                return WouldBlock;
            }

            Reads++;
            byte[] chunk = Incoming.Dequeue();
            chunk.CopyTo(buffer);
            return chunk.Length;
        }

        public void Read() => HandleRead();

        public override bool Readable() => Open && base.Readable();

        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => OnCollect?.Invoke();

        protected override void FoundTerminator()
        {
        }
    }
}
