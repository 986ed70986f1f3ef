using Asyncore.Framing;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Framing;

/// <summary>
/// Allocation guards: after warm-up, framing and pushing allocate nothing per message. Counted with
/// GC.GetAllocatedBytesForCurrentThread (BenchmarkDotNet's MemoryDiagnoser in bench/ shows the same).
/// </summary>
public class AllocationTests
{
    private struct CountingTarget : IFramerTarget
    {
        public long Bytes;
        public int Messages;

        public Terminator Terminator { get; set; }

        public void CollectIncomingData(ReadOnlySpan<byte> data) => Bytes += data.Length;

        public void FoundTerminator() => Messages++;
    }

    [Fact]
    public void FramingAllocatesNothingPerMessage()
    {
        byte[] chunk = [.. Enumerable.Repeat("PING\r\n"u8.ToArray(), 600).SelectMany(x => x), .. "PI"u8];
        var framer = new ChatFramer();
        var target = new CountingTarget { Terminator = Terminator.FromBytes("\r\n"u8) };
        for (int i = 0; i < 100; i++)
        {
            framer.Feed(chunk, ref target);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            framer.Feed(chunk, ref target);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(target.Messages > 600_000);
    }

    private sealed class PingChannel : AsyncChat
    {
        private static readonly byte[] Pong = "+PONG\r\n"u8.ToArray();

        public PingChannel() : base(null, new SocketMap())
        {
            Connected = true;
            SetTerminator("\r\n"u8);
        }

        public byte[] Input { get; set; } = [];

        public long SentBytes { get; private set; }

        /// <summary>While set, the socket takes nothing (as a send that would block).</summary>
        public bool Full { get; set; }

        private bool _delivered;

        public override int Recv(Span<byte> buffer)
        {
            if (_delivered)
            {
                return WouldBlock;
            }

            _delivered = true;
            Input.CopyTo(buffer);
            return Input.Length;
        }

        public override int Send(ReadOnlySpan<byte> data)
        {
            if (Full)
            {
                return 0;
            }

            // Take half of every other send, so the queue and staging paths run too.
            int n = (SentBytes & 1) == 0 ? data.Length : Math.Max(1, data.Length / 2);
            SentBytes += n;
            return n;
        }

        public void Round()
        {
            Read();
            Drain();
        }

        public void Read()
        {
            _delivered = false;
            HandleRead();
        }

        public void Drain()
        {
            while (Writable())
            {
                HandleWrite();
            }
        }

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
            Push(Pong);
            SetTerminator("\r\n"u8); // same bytes again: no allocation
        }
    }

    [Fact]
    public void ReadFramePushSendAllocatesNothingPerMessage()
    {
        var ch = new PingChannel { AcInBufferSize = 4096 };
        ch.Input = [.. Enumerable.Repeat("PING\r\n"u8.ToArray(), 500).SelectMany(x => x)];
        for (int i = 0; i < 200; i++)
        {
            ch.Round();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            ch.Round();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ManyChannelsHoldingAnswersAtOnceAllocateNothingPerMessage()
    {
        // A loop pass in which hundreds of channels answer: each holds its answer (an output
        // segment) until the sends at the end of the pass, more at once than the shared array
        // pool keeps per core.
        var channels = new PingChannel[200];
        for (int i = 0; i < channels.Length; i++)
        {
            channels[i] = new PingChannel { AcInBufferSize = 4096, Input = "PING\r\nPING\r\n"u8.ToArray() };
        }

        void Pass()
        {
            foreach (PingChannel ch in channels)
            {
                ch.Full = true;
                ch.Read();
            }

            foreach (PingChannel ch in channels)
            {
                ch.Full = false;
                ch.Drain();
            }
        }

        for (int i = 0; i < 20; i++)
        {
            Pass();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            Pass();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.All(channels, ch => Assert.Equal(220 * 2 * 7, ch.SentBytes));
    }
}
