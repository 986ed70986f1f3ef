using System.Net.Sockets;
using Asyncore.Tests.Support;
using CsCheck;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Tests.Output;

/// <summary>
/// Gathered sends: a channel that sends through the library's own <c>Send</c> gives the kernel several
/// small blocks (a producer's, small pushes) per send (on io_uring the ring's SEND buffer gathers
/// them). Whatever is queued, and however the socket takes it, the peer gets exactly the bytes
/// pushed, in order, over a real loopback socket on every backend.
/// </summary>
public sealed class GatheringTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("asyncore-gather-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>One thing queued: 0 push span, 1 push memory, 2 producer reusing one buffer, 3 simple producer, 4 file region, 5 hold marker, 6 empty push and empty producer.</summary>
    private static readonly Gen<(int Op, int Size, int Block)> GenOp =
        Gen.Select(Gen.Int[0, 6], Gen.OneOf(Gen.Int[0, 300], Gen.Int[0, 20_000], Gen.Int[0, 150_000]), Gen.OneOf(Gen.Int[1, 64], Gen.Int[1, 5000], Gen.Int[1, 40_000]));

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AnyMixOfPushesAndProducersArrivesExactlyAndInOrder(PollerKind kind)
    {
        byte[] file = RandomBytes(400_000, 7);
        string path = Path.Combine(_folder, "region.bin");
        File.WriteAllBytes(path, file);
        Gen.Select(GenOp.Array[1, 14], Gen.Int[1, 70_000], Gen.Bool, Gen.Int[0, 3], Gen.UInt)
            .Sample((ops, outSize, insidePass, slowness, seed) =>
            {
                var expected = new MemoryStream();
                byte[] got = Transfer(kind, outSize, insidePass, slowness, seed, chat =>
                {
                    var rnd = new Random((int)seed);
                    foreach ((int op, int size, int block) in ops)
                    {
                        byte[] data = RandomBytes(size, rnd.Next());
                        switch (op)
                        {
                            case 0:
                                chat.Push(data.AsSpan());
                                expected.Write(data);
                                break;
                            case 1:
                                chat.Push(data.AsMemory());
                                expected.Write(data);
                                break;
                            case 2:
                                chat.PushWithProducer(new ReusingProducer(data, block));
                                expected.Write(data);
                                break;
                            case 3:
                                chat.PushWithProducer(new SimpleProducer(data, block));
                                expected.Write(data);
                                break;
                            case 4:
                                int offset = rnd.Next(file.Length), count = Math.Min(size, file.Length - offset);
                                chat.PushWithProducer(new FileRegion(File.OpenHandle(path), offset, count));
                                expected.Write(file, offset, count);
                                break;
                            case 5:
                                chat.HoldInputUntilSent();
                                break;
                            default:
                                chat.Push(ReadOnlySpan<byte>.Empty);
                                chat.Push(ReadOnlyMemory<byte>.Empty);
                                chat.PushWithProducer(new ReusingProducer([], block));
                                break;
                        }
                    }

                    chat.CloseWhenDone();
                    chat.Push("never sent"u8); // behind the close marker
                });

                Assert.Equal(expected.Length, got.Length);
                Assert.True(expected.ToArray().AsSpan().SequenceEqual(got), "the bytes differ");
            }, iter: 25, threads: 1);
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void AProducerOfSmallBlocksIsSentInSendsLargerThanItsBlocks(PollerKind kind)
    {
        byte[] data = RandomBytes(4 * 1024 * 1024, 3);
        var sender = new CountingSender[1];
        byte[] got = Transfer(kind, 4096, insidePass: false, slowness: 0, seed: 1, chat =>
        {
            sender[0] = (CountingSender)chat;
            chat.PushWithProducer(new ReusingProducer(data, 4096));
            chat.CloseWhenDone();
        });

        Assert.True(data.AsSpan().SequenceEqual(got));
        if (sender[0].HasUringSender())
        {
            Assert.Equal(0, sender[0].CarriesStarted); // the ring's SEND buffer gathers them: no second copy
        }
        else
        {
            Assert.True(sender[0].LargestSend > 4096, $"largest send {sender[0].LargestSend}");
            Assert.True(sender[0].LargestSend <= 64 * 1024, $"largest send {sender[0].LargestSend}");
        }

        Assert.False(sender[0].HoldsCarry); // the carry went back once it was sent
    }

    [Theory]
    [MemberData(nameof(Backends.Kinds), MemberType = typeof(Backends))]
    public void ALargePushIsSentFromItsOwnMemory(PollerKind kind)
    {
        byte[] data = RandomBytes(2 * 1024 * 1024, 5);
        var sender = new CountingSender[1];
        byte[] got = Transfer(kind, 4096, insidePass: false, slowness: 0, seed: 2, chat =>
        {
            sender[0] = (CountingSender)chat;
            chat.Push(data.AsMemory());
            chat.CloseWhenDone();
        });

        Assert.True(data.AsSpan().SequenceEqual(got));
        Assert.Equal(0, sender[0].CarriesStarted); // the pieces lie side by side: never copied
    }

    [Fact]
    public void ASendOverrideStillSeesCPythonsBlockSizes()
    {
        var ch = new ScriptedChannel(connected: false) { AcOutBufferSize = 100 };
        ch.PushWithProducer(new ReusingProducer(RandomBytes(1000, 1), 10));
        ch.MarkConnected();
        for (int i = 0; i < 1000 && ch.Writable(); i++)
        {
            ch.Write();
        }

        Assert.Equal(1000, ch.Sent.Length);
        Assert.Equal(100, ch.SendCalls); // one block per send, as CPython's initiate_send
    }

    [Fact]
    public void ProducersAreNotPulledPastTheHighWaterMark()
    {
        var (a, b) = Drive.TcpPair();
        using var map = new SocketMap();
        using (b)
        {
            a.SendBufferSize = 4096;
            var chat = new CountingSender(a, map) { HighWaterMark = 16 * 1024, AcOutBufferSize = 1024 };
            int pulled = 0;
            chat.PushWithProducer(new CallbackProducer(() => ++pulled <= 10_000 ? new byte[1024] : ReadOnlyMemory<byte>.Empty));
            Drive.Until(map, () => false, seconds: 0.3, kind: PollerKind.Epoll);
            // The peer reads nothing: what was pulled is what the socket took plus what stays queued,
            // and what stays queued is held under the mark.
            Assert.True(chat.OutgoingBytes <= 16 * 1024 + 1024, $"{chat.OutgoingBytes} queued");
            Assert.False(chat.BackpressureSeen);
            chat.Close();
        }
    }

    private static byte[] Transfer(PollerKind kind, int outSize, bool insidePass, int slowness, uint seed, Action<AsyncChat> queue)
    {
        var (a, b) = Drive.TcpPair();
        using var map = new SocketMap();
        using (b)
        {
            if (slowness > 0)
            {
                a.SendBufferSize = 4096 << slowness;
                b.ReceiveBufferSize = 4096 << slowness;
            }

            var chat = new CountingSender(a, map) { AcOutBufferSize = outSize };
            if (insidePass)
            {
                map.CallLater(TimeSpan.Zero, () => queue(chat)); // inside a pass: the end-of-pass flush sends
            }
            else
            {
                queue(chat); // outside a pass: the first push sends at once, the rest on write events
            }

            var received = new MemoryStream();
            var reader = Task.Run(() =>
            {
                var rnd = new Random((int)seed);
                byte[] buf = new byte[70_000];
                int n;
                while ((n = b.Receive(buf, 0, rnd.Next(1, buf.Length), SocketFlags.None)) > 0)
                {
                    received.Write(buf, 0, n);
                    if (slowness > 1 && rnd.Next(8) == 0)
                    {
                        Thread.Sleep(1);
                    }
                }
            });
            Drive.Until(map, () => reader.IsCompleted, seconds: 30, kind: kind, passTimeout: 0.005);
            Assert.True(reader.Wait(TimeSpan.FromSeconds(5)), "the peer never saw the end of the stream");
            Assert.Equal(0, chat.OutgoingBytes);
            Assert.False(chat.HoldsCarry);
            return received.ToArray();
        }
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Hands out its bytes in blocks, each in the same buffer (the Bulk sample's producer does so), and scribbles over it when done.</summary>
    private sealed class ReusingProducer(byte[] data, int block) : IProducer
    {
        private readonly byte[] _buffer = new byte[Math.Max(1, block)];
        private int _at;

        public ReadOnlyMemory<byte> More()
        {
            _buffer.AsSpan().Fill(0xEE); // a block kept by reference after the next call would show
            int n = Math.Min(_buffer.Length, data.Length - _at);
            data.AsSpan(_at, n).CopyTo(_buffer);
            _at += n;
            return _buffer.AsMemory(0, n);
        }
    }

    private sealed class CallbackProducer(Func<ReadOnlyMemory<byte>> more) : IProducer
    {
        public ReadOnlyMemory<byte> More() => more();
    }

    /// <summary>Through the library's own Send (so it gathers), with a look at its queue's carry.</summary>
    private sealed class CountingSender : AsyncChat
    {
        public CountingSender(Socket socket, SocketMap map) : base(socket, map)
        {
        }

        public int LargestSend => OutputQueueForTests.LargestCarry;

        public int CarriesStarted => OutputQueueForTests.CarriesStarted;

        public bool HoldsCarry => OutputQueueForTests.HoldsCarry;

        public bool BackpressureSeen { get; private set; }

        protected override void HandleBackpressure(bool paused) => BackpressureSeen |= paused;

        protected override void CollectIncomingData(ReadOnlySpan<byte> data)
        {
        }

        protected override void FoundTerminator()
        {
        }
    }
}
