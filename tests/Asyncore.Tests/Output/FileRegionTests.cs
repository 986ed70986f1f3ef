using System.Net.Sockets;
using System.Text;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Tests.Output;

/// <summary>
/// <see cref="FileRegion"/> in the output queue: sent with sendfile(2) on select, poll, epoll and
/// io_uring (once none of the channel's bytes are in the ring), read in blocks through TLS and
/// through a <c>Send</c> override; in FIFO order with the bytes around it, before <c>CloseWhenDone</c>, over a half-closed connection;
/// a file that shrinks mid-send closes the connection with the bytes sent reported.
/// </summary>
public sealed class FileRegionTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("asyncore-region-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void ARegionArrivesByteForByteBetweenTheBytesPushedAroundIt(PollerKind kind)
    {
        byte[] content = Content(5 * 1024 * 1024 + 123);
        string path = Write("five", content);
        const int offset = 1000;
        int count = content.Length - 2000;
        FileRegion? region = null;
        int completions = 0;
        using var loop = new LoopThread(map => Accept(map, chat =>
        {
            chat.Push("before\n"u8);
            region = new FileRegion(OpenRead(path), offset, count, completed: _ => completions++);
            chat.PushWithProducer(region);
            chat.Push("after\n"u8);
            chat.CloseWhenDone();
        }), kind);

        byte[] got = Drive.ReadToEnd(Connect(loop));
        Assert.Equal([.. "before\n"u8, .. content.AsSpan(offset, count), .. "after\n"u8], got);
        Assert.True(SpinWait.SpinUntil(() => loop.OnLoop(() => completions) == 1, 5000));
        loop.OnLoop(() =>
        {
            Assert.Equal(count, region!.Transferred);
            Assert.False(region.CameUpShort);
            Assert.True(region.File!.IsClosed); // owned: closed when it ended
            Assert.Equal(count, region.SentWithoutCopy); // sendfile(2), every byte, on io_uring too

            return 0;
        });
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void PipelinedRequestsAreAnsweredInOrderEachWithItsRegion(PollerKind kind)
    {
        byte[] content = Content(700 * 1024 + 7);
        string path = Write("pipelined", content);
        using var loop = new LoopThread(map => Accept(map, chat =>
        {
            chat.HighWaterMark = 64 * 1024; // reading pauses while a region is sent
            chat.OnLine = line =>
            {
                if (line == "end")
                {
                    chat.CloseWhenDone();
                    return;
                }

                string[] parts = line.Split(' ');
                long start = long.Parse(parts[0]), length = long.Parse(parts[1]);
                chat.Push(Encoding.ASCII.GetBytes($"[{start}+{length}]"));
                chat.PushWithProducer(new FileRegion(OpenRead(path), start, length));
            };
        }), kind);

        var ranges = new (int Start, int Length)[] { (5, 300_000), (200_000, 500_007), (0, 1), (699_000, 1_000), (0, 1000) };
        var expected = new MemoryStream();
        var request = new StringBuilder();
        foreach ((int start, int length) in ranges)
        {
            expected.Write(Encoding.ASCII.GetBytes($"[{start}+{length}]"));
            expected.Write(content, start, length);
            request.Append($"{start} {length}\n");
        }

        request.Append("end\n");

        using Socket client = Connect(loop);
        client.Send(Encoding.ASCII.GetBytes(request.ToString()));
        byte[] got = Drive.ReadToEnd(client);
        Assert.Equal(expected.ToArray().Length, got.Length);
        Assert.Equal(expected.ToArray(), got);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AHalfClosedPeerStillGetsTheWholeRegionThenTheConnectionCloses(PollerKind kind)
    {
        byte[] content = Content(3 * 1024 * 1024);
        string path = Write("half", content);
        using var loop = new LoopThread(map => Accept(map, chat =>
            chat.OnLine = _ => chat.PushWithProducer(new FileRegion(OpenRead(path), 0, content.Length))), kind);

        using Socket client = Connect(loop, receiveBuffer: 16 * 1024);
        client.Send("go\n"u8);
        client.Shutdown(SocketShutdown.Send); // end of stream while the region is still queued
        Thread.Sleep(100);
        Assert.Equal(content, Drive.ReadToEnd(client)); // sent in full, then closed (no CloseWhenDone)
    }

    [Theory]
    [InlineData(PollerKind.Epoll, false)]
    [InlineData(PollerKind.Poll, false)]
    [InlineData(PollerKind.Epoll, true)]
    [InlineData(PollerKind.IoUring, false)]
    public void AFileThatShrinksMidSendClosesTheConnectionAndReportsTheBytesSent(PollerKind kind, bool sendOverride)
    {
        byte[] content = Content(16 * 1024 * 1024);
        string path = Write("shrinks", content);
        FileRegion? region = null;
        var logged = new List<string>();
        long reported = -1;
        using var loop = new LoopThread(map => Accept(map, chat =>
        {
            chat.Logged = logged;
            chat.Push("head\n"u8);
            region = new FileRegion(OpenRead(path), 0, content.Length, completed: r => reported = r.Transferred);
            chat.PushWithProducer(region);
            chat.Push("never\n"u8);
        }, sendOverride), kind);

        using Socket client = Connect(loop, receiveBuffer: 32 * 1024);
        var got = new MemoryStream();
        var buffer = new byte[8192];
        while (got.Length < 256 * 1024)
        {
            got.Write(buffer, 0, client.Receive(buffer));
        }

        using (var shrink = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            shrink.SetLength(1024 * 1024);
        }

        got.Write(Drive.ReadToEnd(client));
        Assert.True(SpinWait.SpinUntil(() => loop.OnLoop(() => reported) >= 0, 5000));
        byte[] all = got.ToArray();
        Assert.Equal("head\n"u8.ToArray(), all[..5]);
        Assert.Equal(reported, all.Length - 5); // exactly what the region says it sent, then the close
        Assert.True(reported < content.Length);
        // Every byte the file still has arrives as it is. Bytes past the new end that were already in
        // the socket's buffer when the file shrank are pages of the file that the kernel sends as they
        // are when they leave (sendfile(2) copies nothing), so only their number is known; a copy sends
        // what it read.
        int exact = sendOverride ? (int)reported : (int)Math.Min(reported, 1024 * 1024); // io_uring sends files with sendfile(2) too
        Assert.Equal(content.AsSpan(0, exact).ToArray(), all.AsSpan(5, exact).ToArray());
        loop.OnLoop(() =>
        {
            Assert.True(region!.CameUpShort);
            Assert.True(region.File!.IsClosed);
            Assert.Contains(logged, l => l.Contains("came up short") && l.Contains($"{reported} of {content.Length}"));
            return 0;
        });
    }

    [Theory]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.Select)]
    public void ASendOverrideSeesEveryByteOfTheRegion(PollerKind kind)
    {
        byte[] content = Content(1024 * 1024 + 5);
        string path = Write("override", content);
        RegionChat? made = null;
        FileRegion? region = null;
        using var loop = new LoopThread(map => Accept(map, chat =>
        {
            made = chat;
            region = new FileRegion(OpenRead(path), 0, content.Length);
            chat.PushWithProducer(region);
            chat.CloseWhenDone();
        }, sendOverride: true), kind);

        Assert.Equal(content, Drive.ReadToEnd(Connect(loop)));
        loop.OnLoop(() =>
        {
            Assert.Equal(content.Length, ((CountingChat)made!).Counted);
            Assert.Equal(0, region!.SentWithoutCopy);
            return 0;
        });
    }

    [Theory]
    [InlineData(PollerKind.Epoll)]
    [InlineData(PollerKind.IoUring)]
    public void OverTlsTheRegionIsReadAndEncrypted(PollerKind kind)
    {
        byte[] content = Content(2 * 1024 * 1024 + 77);
        string path = Write("tls", content);
        FileRegion? region = null;
        using var loop = new LoopThread(map => Accept(map, chat =>
        {
            chat.StartTls(Tls.TestCertificate.Shared.ServerOptions());
            chat.OnLine = _ =>
            {
                region = new FileRegion(OpenRead(path), 0, content.Length);
                chat.PushWithProducer(region);
                chat.CloseWhenDone();
            };
        }), kind);

        var address = (System.Net.IPEndPoint)loop.OnLoop(() => loop.Map.Values.OfType<Acceptor>().Single().Address);
        using System.Net.Security.SslStream tls = Tls.TlsChannelTests.Connect(address);
        tls.Write("go\n"u8);
        var got = new MemoryStream();
        tls.CopyTo(got);
        Assert.Equal(content, got.ToArray());
        loop.OnLoop(() =>
        {
            Assert.Equal(content.Length, region!.Transferred);
            Assert.Equal(0, region.SentWithoutCopy);
            return 0;
        });
    }

    /// <summary>
    /// A 2 GiB file (sparse) to slow readers: the loop allocates next to nothing and no channel's
    /// queue holds more than its water mark in memory (bench/file-region-memory.sh runs 100 readers
    /// through the whole file).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ALargeFileToSlowReadersHoldsNoMoreThanTheWaterMarks(bool sendOverride)
    {
        const int readers = 16;

        // sendfile(2) allocates nothing per send; the copying path one pooled block per reader at most.
        long bound = sendOverride ? (readers * (long)FileRegion.BlockSize) + (256 * 1024) : 256 * 1024;
        ServeALargeFileToSlowReaders(_folder, PollerKind.Epoll, readers, bound, sendOverride, headFirst: false);
    }

    /// <summary>
    /// Serves a sparse 2 GiB file to <paramref name="readers"/> slow readers (4 MiB each, one 16 KiB
    /// read per reader per round) and checks that every channel stays paused over its 256 KiB high-water
    /// mark with no more than a few bytes in memory, and that the loop allocated less than
    /// <paramref name="allocationBound"/> meanwhile.
    /// </summary>
    /// <param name="headFirst">Push a few bytes before the region (on io_uring they go through the ring first).</param>
    /// <param name="eachChannel">A check of every channel, made on the loop before it stops.</param>
    internal static void ServeALargeFileToSlowReaders(string folder, PollerKind kind, int readers, long allocationBound, bool sendOverride, bool headFirst, Func<RegionChat, bool>? eachChannel = null)
    {
        const int eachReads = 4 * 1024 * 1024;
        const long high = 256 * 1024;
        string path = Path.Combine(folder, "large");
        using (var f = new FileStream(path, FileMode.Create))
        {
            f.SetLength(2L * 1024 * 1024 * 1024);
        }

        var chats = new List<RegionChat>();
        using var loop = new LoopThread(map => Accept(map, chat =>
        {
            chat.HighWaterMark = high;
            chats.Add(chat);
            if (headFirst)
            {
                chat.Push("head\n"u8);
            }

            chat.PushWithProducer(new FileRegion(OpenRead(path), 0, 2L * 1024 * 1024 * 1024));
        }, sendOverride), kind);

        var clients = Enumerable.Range(0, readers).Select(_ => Connect(loop, receiveBuffer: 64 * 1024)).ToList();
        Assert.True(SpinWait.SpinUntil(() => loop.OnLoop(() => chats.Count) == readers, 10_000));
        Thread.Sleep(200); // every channel has filled its socket
        long before = loop.OnLoop(GC.GetAllocatedBytesForCurrentThread);
        var buffer = new byte[16 * 1024];
        var read = new long[readers];
        while (read.Any(r => r < eachReads))
        {
            for (int i = 0; i < readers; i++)
            {
                if (read[i] < eachReads)
                {
                    read[i] += clients[i].Receive(buffer); // slow: one small read per reader per round
                }
            }
        }

        long allocated = loop.OnLoop(GC.GetAllocatedBytesForCurrentThread) - before;
        long maxCost = loop.OnLoop(() => chats.Max(c => c.OutgoingCost));
        Assert.All(loop.OnLoop(() => chats.Select(c => c.OutgoingBytes).ToList()), b => Assert.True(b > high)); // still paused
        Assert.True(maxCost < 1024, $"a queue holds {maxCost} bytes in memory");
        Assert.True(allocated < allocationBound, $"the loop allocated {allocated} bytes while {readers} readers took {eachReads} bytes each");
        if (eachChannel is not null)
        {
            Assert.True(loop.OnLoop(() => chats.All(eachChannel)));
        }

        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public void WaterMarksCountTheRegionsUnsentBytesAndTheOutputLimitsDoNot()
    {
        string path = Write("marks", Content(4 * 1024 * 1024));
        using var map = new SocketMap();
        (Socket a, Socket b) = Drive.TcpPair();
        using Socket client = a;
        b.SendBufferSize = 16 * 1024;
        client.ReceiveBufferSize = 16 * 1024;
        var chat = new RegionChat(b, map) { HighWaterMark = 256 * 1024, OutputHardLimit = 1024 * 1024 };
        var region = new FileRegion(OpenRead(path), 0, 4 * 1024 * 1024);
        chat.PushWithProducer(region);
        Assert.Equal(region.Remaining, chat.OutgoingBytes);
        Assert.True(region.Remaining > 1024 * 1024);
        Assert.True(chat.OutgoingCost < 1024); // the file's bytes are not in memory: the hard limit is not passed
        Assert.True(chat.ReadingPaused);
        Assert.Equal([true], chat.Backpressure);
        Assert.True(chat.Fileno >= 0);

        var buffer = new byte[65536];
        long read = 0;
        while (read < 4 * 1024 * 1024)
        {
            read += client.Receive(buffer);
            EventLoop.Loop(PollerKind.Epoll, 0, map, count: 1);
        }

        Drive.Until(map, () => region.IsCompleted);
        Assert.Equal(0, chat.OutgoingBytes);
        Assert.False(chat.ReadingPaused);
        Assert.Equal([true, false], chat.Backpressure);
        chat.Close();
    }

    [Fact]
    public void CloseAndDiscardBuffersEndEachQueuedRegionOnce()
    {
        string path = Write("close", Content(1024));
        using var map = new SocketMap();
        var chat = new RegionChat(null, map);
        int ends = 0;
        var first = new FileRegion(OpenRead(path), 0, 1024, completed: _ => ends++);
        var kept = OpenRead(path);
        var second = new FileRegion(kept, 0, 1024, ownsFile: false, completed: _ => ends++);
        chat.PushWithProducer(first);
        chat.PushWithProducer(second);
        Assert.Throws<InvalidOperationException>(() => chat.PushWithProducer(first));
        Assert.Equal(2048, chat.OutgoingBytes);
        chat.DiscardBuffers();
        Assert.Equal(2, ends);
        Assert.Equal(0, chat.OutgoingBytes);
        Assert.True(first.File!.IsClosed);
        Assert.False(kept.IsClosed); // not owned: the caller's to close
        chat.PushWithProducer(new FileRegion(kept, 0, 10, ownsFile: false, completed: _ => ends++));
        chat.Close();
        Assert.Equal(3, ends);
        var late = new FileRegion(kept, 0, 10, ownsFile: true, completed: _ => ends++);
        chat.PushWithProducer(late); // a closed channel queues nothing: the region ends at once
        Assert.Equal(4, ends);
        Assert.True(kept.IsClosed);
    }

    [Fact]
    public void MoreReadsTheRegionInBlocksForCodeThatIsNotTheQueue()
    {
        byte[] content = Content(FileRegion.BlockSize * 2 + 10);
        string path = Write("more", content);
        using var region = new FileRegion(OpenRead(path), 3, content.Length - 3);
        var got = new MemoryStream();
        for (ReadOnlyMemory<byte> block = region.More(); !block.IsEmpty; block = region.More())
        {
            got.Write(block.Span);
        }

        Assert.Equal(content[3..], got.ToArray());
        Assert.True(region.IsCompleted);
        Assert.Equal(content.Length - 3, region.Transferred);
    }

    internal static byte[] Content(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    internal static SafeFileHandle OpenRead(string path) => File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    private string Write(string name, byte[] content)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static void Accept(SocketMap map, Action<RegionChat> setup, bool sendOverride = false) =>
        _ = new Acceptor(map, (s, m) =>
        {
            RegionChat chat = sendOverride ? new CountingChat(s, m) : new RegionChat(s, m);
            setup(chat);
            return chat;
        });

    private static Socket Connect(LoopThread loop, int receiveBuffer = 0)
    {
        var address = loop.OnLoop(() => loop.Map.Values.OfType<Acceptor>().Single().Address);
        return Acceptor.Connect(address, receiveBuffer);
    }

    /// <summary>A line channel that hands each line to <see cref="OnLine"/> and records what the library tells it.</summary>
    internal class RegionChat : AsyncChat
    {
        public RegionChat(Socket? s, SocketMap m) : base(s, m) => SetTerminator("\n");

        public Action<string>? OnLine { get; set; }

        public List<string>? Logged { get; set; }

        public List<bool> Backpressure { get; } = new();

        private readonly StringBuilder _line = new();

        public override void LogInfo(string message, string type = "info") => Logged?.Add(message);

        protected override void CollectIncomingData(ReadOnlySpan<byte> data) => _line.Append(Encoding.ASCII.GetString(data));

        protected override void FoundTerminator()
        {
            string line = _line.ToString();
            _line.Clear();
            OnLine?.Invoke(line);
        }

        protected override void HandleBackpressure(bool readingPaused) => Backpressure.Add(readingPaused);
    }

    /// <summary>Overrides Send (to count what it sends): a region must go through it, block by block.</summary>
    internal sealed class CountingChat(Socket? s, SocketMap m) : RegionChat(s, m)
    {
        public long Counted { get; private set; }

        public override int Send(ReadOnlySpan<byte> data)
        {
            int sent = base.Send(data);
            Counted += Math.Max(sent, 0);
            return sent;
        }
    }
}
