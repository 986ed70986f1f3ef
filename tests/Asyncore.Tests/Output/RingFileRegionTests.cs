using System.Net.Sockets;
using Asyncore.Tests.Robustness;
using Asyncore.Tests.Support;
using static Asyncore.Tests.Output.FileRegionTests;

namespace Asyncore.Tests.Output;

/// <summary>
/// <see cref="FileRegion"/> on the io_uring backend, which sends it with sendfile(2) once none of the
/// channel's bytes are in the ring: byte for byte with ranges, several regions and the bytes pushed
/// between them, to slow readers (the ring's SEND of the bytes before a region still in the kernel),
/// with memory bounded by the water marks, and a channel closed mid-send leaves no descriptor open.
/// The × backends theories in <see cref="FileRegionTests"/> (half-close, a file that shrinks, TLS
/// falling back to copying) run on io_uring too.
/// </summary>
public sealed class RingFileRegionTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("asyncore-ring-region-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [RingFact]
    public void RangesOfSeveralRegionsAndThePushesBetweenThemArriveByteForByte()
    {
        byte[] one = Content((3 * 1024 * 1024) + 17), two = Content((200 * 1024) + 3);
        string p1 = Write("one", one), p2 = Write("two", two);
        var regions = new List<FileRegion>();
        RegionChat? chat = null;
        using var loop = new LoopThread(map => Accept(map, c =>
        {
            chat = c;
            c.OnLine = _ =>
            {
                c.Push("a"u8);
                Queue(c, regions, p1, 0, one.Length);
                c.Push("bb"u8);
                Queue(c, regions, p2, 4321, 100_000);
                Queue(c, regions, p1, 1_000_000, 1);
                Queue(c, regions, p2, 0, two.Length);
                c.Push("ccc"u8);
                Queue(c, regions, p1, one.Length - 70_000, 70_000);
                c.CloseWhenDone();
            };
        }), PollerKind.IoUring);

        using Socket client = Connect(loop);
        client.Send("go\n"u8);
        byte[] got = Drive.ReadToEnd(client);
        byte[] expected =
        [
            .. "a"u8, .. one, .. "bb"u8, .. two.AsSpan(4321, 100_000), .. one.AsSpan(1_000_000, 1), .. two, .. "ccc"u8,
            .. one.AsSpan(one.Length - 70_000),
        ];
        Assert.Equal(expected.Length, got.Length);
        Assert.True(expected.AsSpan().SequenceEqual(got), "the bytes differ");
        loop.OnLoop(() =>
        {
            Assert.True(chat!.HasUringSender()); // the pushes went through the ring
            Assert.All(regions, r =>
            {
                Assert.True(r.IsCompleted && !r.CameUpShort);
                Assert.Equal(r.Count, r.SentWithoutCopy); // no block was read
                Assert.True(r.File!.IsClosed);
            });
            return 0;
        });
    }

    [RingTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void ASlowReaderGetsTheBytesAndRegionsInOrderWhileTheRingStillSendsTheBytesBefore(bool bytesBetween)
    {
        // The bytes pushed first fill the socket: the ring's SEND of them is still in the kernel when the
        // region is queued behind them, so the region waits for its completion. With bytes pushed just
        // before the region, the ring takes them when that SEND is through, and they are taken back and
        // sent with send(2) into a socket that has little room: the rest goes through the ring again first.
        byte[] pushed = Content(200 * 1024), more = Content((100 * 1024) + 1), file = Content((2 * 1024 * 1024) + 5);
        string path = Write("slow", file);
        FileRegion? region = null;
        using var loop = new LoopThread(map => Accept(map, c =>
        {
            c.Socket!.SendBufferSize = 16 * 1024;
            c.Push(pushed);
            c.OnLine = _ =>
            {
                if (bytesBetween)
                {
                    c.Push(more);
                }

                region = new FileRegion(OpenRead(path), 3, file.Length - 3);
                c.PushWithProducer(region);
                c.Push("tail"u8);
                c.PushWithProducer(new FileRegion(OpenRead(path), 0, 10));
                c.CloseWhenDone();
            };
        }), PollerKind.IoUring);

        using Socket client = Connect(loop, receiveBuffer: 16 * 1024);
        Thread.Sleep(200); // the socket is full, the ring's SEND waits in the kernel
        client.Send("go\n"u8);
        Thread.Sleep(100);
        var got = new MemoryStream();
        var buffer = new byte[4096];
        int n, reads = 0;
        while ((n = client.Receive(buffer)) > 0)
        {
            got.Write(buffer, 0, n);
            if (++reads % 64 == 0)
            {
                Thread.Sleep(1); // slower than the server: its sends wait for room
            }
        }

        byte[] expected = [.. pushed, .. (bytesBetween ? more : []), .. file.AsSpan(3), .. "tail"u8, .. file.AsSpan(0, 10)];
        Assert.Equal(expected.Length, got.Length);
        Assert.True(expected.AsSpan().SequenceEqual(got.ToArray()), "the bytes differ");
        Assert.True(SpinWait.SpinUntil(() => loop.OnLoop(() => region!.IsCompleted), 5000));
        Assert.Equal(file.Length - 3, loop.OnLoop(() => region!.SentWithoutCopy));
    }

    [RingFact]
    public void ChannelsClosedMidSendLeaveNoDescriptorOfTheFileOpen()
    {
        string path = Path.Combine(_folder, "closed");
        using (var f = new FileStream(path, FileMode.Create))
        {
            f.SetLength(256L * 1024 * 1024); // sparse
        }

        const int Channels = 8;
        var chats = new List<RegionChat>();
        var regions = new List<FileRegion>();
        using var loop = new LoopThread(map => Accept(map, c =>
        {
            chats.Add(c);
            var region = new FileRegion(OpenRead(path), 0, 256L * 1024 * 1024);
            regions.Add(region);
            c.PushWithProducer(region);
        }), PollerKind.IoUring);

        var clients = Enumerable.Range(0, Channels).Select(_ => Connect(loop, receiveBuffer: 64 * 1024)).ToList();
        Assert.True(SpinWait.SpinUntil(() => loop.OnLoop(() => chats.Count) == Channels, 10_000));
        var buffer = new byte[64 * 1024];
        foreach (Socket c in clients)
        {
            long read = 0;
            while (read < 512 * 1024)
            {
                read += c.Receive(buffer);
            }
        }

        Assert.True(OpenDescriptorsOf(path) >= Channels);
        loop.OnLoop(() =>
        {
            chats.ForEach(c => c.Close()); // mid-send: the sockets are full, the regions far from done
            return 0;
        });

        foreach (Socket c in clients)
        {
            try
            {
                while (c.Receive(buffer) > 0)
                {
                }
            }
            catch (SocketException)
            {
                // reset: the server closed with bytes unread, as a close does
            }

            c.Dispose();
        }

        Assert.True(SpinWait.SpinUntil(() => OpenDescriptorsOf(path) == 0, 5000), $"{OpenDescriptorsOf(path)} descriptors of the file are still open");
        loop.OnLoop(() =>
        {
            Assert.All(regions, r =>
            {
                Assert.True(r.IsCompleted);
                Assert.True(r.File!.IsClosed);
                Assert.InRange(r.Transferred, 512 * 1024, r.Count - 1);
            });
            Assert.All(chats, c => Assert.True(c.Fileno < 0));
            return 0;
        });
    }

    /// <summary>
    /// A 2 GiB file (sparse) to slow readers on io_uring: the loop allocates next to nothing and no
    /// channel's queue holds more than its water mark in memory, as with sendfile(2) on epoll.
    /// </summary>
    [RingFact]
    public void ALargeFileToSlowReadersHoldsNoMoreThanTheWaterMarks() =>
        FileRegionTests.ServeALargeFileToSlowReaders(_folder, PollerKind.IoUring, readers: 8, allocationBound: 256 * 1024,
            sendOverride: false, headFirst: true, eachChannel: c => c.HasUringSender()); // bytes in the ring first, then the region

    /// <summary>How many of this process's descriptors name <paramref name="path"/>.</summary>
    private static int OpenDescriptorsOf(string path) =>
        Directory.GetFiles("/proc/self/fd").Count(fd =>
        {
            try
            {
                return new FileInfo(fd).LinkTarget == path;
            }
            catch (IOException)
            {
                return false; // closed while listed
            }
        });

    private static void Queue(RegionChat chat, List<FileRegion> regions, string path, long offset, long count)
    {
        var region = new FileRegion(OpenRead(path), offset, count);
        regions.Add(region);
        chat.PushWithProducer(region);
    }

    private string Write(string name, byte[] content)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static void Accept(SocketMap map, Action<RegionChat> setup) =>
        _ = new Acceptor(map, (s, m) =>
        {
            var chat = new RegionChat(s, m);
            setup(chat);
            return chat;
        });

    private static Socket Connect(LoopThread loop, int receiveBuffer = 0)
    {
        var address = loop.OnLoop(() => loop.Map.Values.OfType<Acceptor>().Single().Address);
        return Acceptor.Connect(address, receiveBuffer);
    }
}
