using System.Runtime.InteropServices;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Reactor;

/// <summary>What a channel carries from one message to the next, and what the loop leaves alone.</summary>
public class ChannelStateTests
{
    private sealed class Limited : AsyncChat
    {
        public Limited() : base(null, new SocketMap())
        {
            Connected = true;
            SetTerminator("\r\n"u8);
            MaxMessageSize = 10;
            OverflowPolicy = OverflowPolicy.Discard;
        }

        public Queue<byte[]> Incoming { get; } = new();

        public List<string> Messages { get; } = new();

        public List<long> Overflows { get; } = new();

        private readonly List<byte> _current = new();

        public override int Recv(Span<byte> buffer)
        {
            if (Incoming.Count == 0)
            {
                return WouldBlock;
            }

            byte[] chunk = Incoming.Dequeue();
            chunk.CopyTo(buffer);
            return chunk.Length;
        }

        public void Read() => HandleRead();

        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => _current.AddRange(data);

        protected override void FoundTerminator()
        {
            Messages.Add(System.Text.Encoding.ASCII.GetString(_current.ToArray()));
            _current.Clear();
        }

        protected override void HandleOverflow(long droppedBytes)
        {
            Overflows.Add(droppedBytes);
            _current.Clear();
        }
    }

    [Fact]
    public void DiscardBuffersStartsTheNextMessageFromNothing()
    {
        var ch = new Limited();
        ch.Incoming.Enqueue("12345678"u8.ToArray()); // 8 of the 10 bytes a message may have
        ch.Read();
        ch.DiscardBuffers();
        ch.Incoming.Enqueue("abcdefgh\r\n"u8.ToArray()); // a new 8-byte message
        ch.Read();
        Assert.Empty(ch.Overflows);
        Assert.Equal(["12345678abcdefgh"[8..]], ch.Messages.Select(m => m.Length > 8 ? m[8..] : m));
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrlimit(int resource, out RLimit limit);

    [DllImport("libc", SetLastError = true)]
    private static extern int setrlimit(int resource, in RLimit limit);

    private const int RLIMIT_NOFILE = 7;

    [Fact]
    public void RunningALoopLeavesTheProcesssFileLimitAlone()
    {
        Assert.Equal(0, getrlimit(RLIMIT_NOFILE, out RLimit saved));
        ulong lowered = Math.Max(4096, saved.Current - 1);
        Assert.Equal(0, setrlimit(RLIMIT_NOFILE, new RLimit { Current = lowered, Max = saved.Max }));
        try
        {
            using var map = new SocketMap();
            var d = new Dispatcher(null, map);
            d.CreateSocket();
            EventLoop.Loop(PollerKind.Default, 0.0, map, count: 2);
            d.Close();
            Assert.Equal(0, getrlimit(RLIMIT_NOFILE, out RLimit after));
            Assert.Equal(lowered, after.Current);
        }
        finally
        {
            setrlimit(RLIMIT_NOFILE, saved);
        }
    }
}
