using System.Buffers;
using System.Runtime.InteropServices;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <content>The receive half of the data path (see docs/design.md, "io_uring").</content>
internal sealed unsafe partial class IoUringPoller
{
    private const uint RecvBit = 0x4000_0000;

    /// <summary>With <see cref="RecvBit"/>: the receive picks from the large buffers (group 1).</summary>
    private const uint LargeRecvBit = IoUringReceiver.LargeBit;

    /// <summary>What <see cref="Receive"/> answers when the channel's reads are not the ring's now (it stopped wanting them, and nothing is left).</summary>
    internal const int NotReceiving = int.MinValue;
    private const int BufferCount = 1024;
    private const int BufferSize = 4096;

    /// <summary>
    /// The large group, for channels that read 64 KiB or more at a time (a bulk transfer): one
    /// receive then brings 64 KiB, not 4, as one read(2) into a large buffer would. Registered when
    /// the first such channel comes, 4 MiB a ring.
    /// </summary>
    private const int LargeBufferCount = 64;
    internal const int LargeBufferSize = 64 * 1024;

    private readonly Dictionary<nint, IoUringReceiver> _receivers = new();

    /// <summary>Receivers whose channel left while their receive was still in the kernel: their late completions only give buffers back.</summary>
    private readonly Dictionary<ulong, IoUringReceiver> _detachedReceivers = new();

    private readonly List<IoUringReceiver> _toArmRecv = new();
    private readonly List<IoUringReceiver> _withInput = new();
    private ProvidedBuffers? _buffers;

    /// <summary>The large group on the current ring, once a channel asked for it; see <see cref="_largeRefused"/>.</summary>
    private ProvidedBuffers? _largeBuffers;

    /// <summary>The kernel refused the large group on the current ring: big readers stay on the small one.</summary>
    private bool _largeRefused;
    private long _waitCount;

    /// <summary>The small group (group 0) on the current ring.</summary>
    private ProvidedBuffers? RegisterSmallBuffers() => RegisterBuffers(0, BufferCount, BufferSize);

    /// <summary>The receiver of the channel on <paramref name="fd"/>, if its reads go through the ring.</summary>
    internal IoUringReceiver? ReceiverFor(nint fd, object owner) =>
        _receivers.TryGetValue(fd, out IoUringReceiver? r) && ReferenceEquals(r.Owner, owner) && !r.Detached ? r : null;

    /// <summary>Whether reads can go through the ring here (the kernel took the buffer ring).</summary>
    internal bool RingReads => _buffers is not null;

    /// <summary>The watch's reading interest changed: start the channel's multishot receive, or stop it.</summary>
    private void SetWant(nint fd, object owner, bool want, int readSize = 0)
    {
        if (!_receivers.TryGetValue(fd, out IoUringReceiver? r) || !ReferenceEquals(r.Owner, owner))
        {
            if (!want)
            {
                return;
            }

            if (r is not null)
            {
                DropReceiver(r);
            }

            // A channel that reads 64 KiB or more at a time receives into the large buffers, where the kernel gives them.
            uint large = readSize >= LargeBufferSize && LargeBuffers() is not null ? LargeRecvBit : 0;
            r = new IoUringReceiver(fd, owner, NextGeneration() | RecvBit | large);
            _receivers[fd] = r;
        }

        r.Want = want;
        if (want)
        {
            QueueArmRecv(r);
            if (r.HasInput)
            {
                ListWithInput(r);
            }
        }
        else if (r.Armed && !r.Cancelling)
        {
            CancelRecv(r);
        }
    }

    private void QueueArmRecv(IoUringReceiver r)
    {
        if (!r.QueuedToArm && !r.Armed && r.Want && !r.Eof && r.Error == 0 && r.Held < r.HeldCap / 2)
        {
            r.QueuedToArm = true;
            _toArmRecv.Add(r);
        }
    }

    private void ListWithInput(IoUringReceiver r)
    {
        if (!r.Listed)
        {
            r.Listed = true;
            _withInput.Add(r);
        }
    }

    private void ArmQueuedRecvs()
    {
        foreach (IoUringReceiver r in _toArmRecv)
        {
            r.QueuedToArm = false;
            if (r.Detached || r.Armed || !r.Want || r.Eof || r.Error != 0)
            {
                continue;
            }

            if (r.WantsLarge && !r.Large && LargeBuffers() is not null)
            {
                r.MoveToLarge(NextGeneration() | RecvBit);
            }

            ref Libc.IoUringSqe sqe = ref _ring.NextSqe();
            sqe.Opcode = Libc.IORING_OP_RECV;
            sqe.Fd = (int)r.Fd;
            sqe.Flags = Libc.IOSQE_BUFFER_SELECT;
            sqe.IoPrio = Libc.IORING_RECV_MULTISHOT;
            sqe.BufIndex = r.Large ? _largeBuffers!.Group : _buffers!.Group; // buf_group
            sqe.UserData = r.UserData;
            r.Armed = true;
            r.Cancelling = false;
        }

        _toArmRecv.Clear();
    }

    private void CancelRecv(IoUringReceiver r)
    {
        r.Cancelling = true;
        ref Libc.IoUringSqe sqe = ref _ring.NextSqe();
        sqe.Opcode = Libc.IORING_OP_ASYNC_CANCEL;
        sqe.Fd = -1;
        sqe.Addr = r.UserData;
        sqe.UserData = Ignored;
    }

    /// <summary>A receive completion: its bytes are queued for the channel, which is told readable after the reap.</summary>
    private void RecvCompleted(in Libc.IoUringCqe cqe, nint fd, uint generation)
    {
        bool more = (cqe.Flags & Libc.IORING_CQE_F_MORE) != 0;
        bool hasBuffer = (cqe.Flags & Libc.IORING_CQE_F_BUFFER) != 0;
        ushort bid = (ushort)(cqe.Flags >> Libc.IORING_CQE_BUFFER_SHIFT);
        if ((generation & LargeRecvBit) != 0)
        {
            bid |= IoUringReceiver.LargeTag;
        }

        if (hasBuffer)
        {
            GroupOf(bid).Out++;
        }

        IoUringReceiver? r = _receivers.TryGetValue(fd, out IoUringReceiver? live) && live.Generation == generation
            ? live
            : _detachedReceivers.TryGetValue(cqe.UserData, out IoUringReceiver? gone) ? gone : null;
        if (!more && r is not null)
        {
            r.Armed = false;
            r.Cancelling = false;
            _detachedReceivers.Remove(cqe.UserData);
        }

        if (r is null || r.Detached)
        {
            if (hasBuffer)
            {
                GiveBack(bid);
            }

            return;
        }

        if (cqe.Res > 0 && hasBuffer)
        {
            r.Enqueue(bid, cqe.Res);
            if (r.Armed && !r.Cancelling && r.Held >= r.HeldCap)
            {
                CancelRecv(r); // it reads slower than its peer sends: stop until it has read half
            }
        }
        else if (cqe.Res == 0)
        {
            if (hasBuffer)
            {
                GiveBack(bid);
            }

            r.Eof = true;
        }
        else if (cqe.Res < 0)
        {
            int errno = -cqe.Res;
            if (errno is not (Libc.ENOBUFS or Libc.ECANCELED))
            {
                r.Error = errno;
            }
        }

        if (!r.Armed)
        {
            QueueArmRecv(r); // ended (out of buffers, cancelled, or after its cap): again when it may
        }

        if (r.HasInput)
        {
            ListWithInput(r);
        }
    }

    /// <summary>The readable events of receivers with input whose channel wants to read, after the reap.</summary>
    private int ReportInput(Span<PollEvent> ready)
    {
        int written = 0;
        for (int i = 0; i < _withInput.Count; i++)
        {
            IoUringReceiver r = _withInput[i];
            if (r.Detached || !r.HasInput)
            {
                r.Listed = false;
                _withInput[i] = _withInput[^1];
                _withInput.RemoveAt(_withInput.Count - 1);
                i--;
                continue;
            }

            if (r.ReportedWait != _waitCount && written < ready.Length && ReadingWanted(r))
            {
                r.ReportedWait = _waitCount;
                ready[written++] = new PollEvent(r.Fd, PollFlags.In);
            }
        }

        return written;
    }

    /// <summary>
    /// Whether the channel is watched for reading now: its queued input is reported then, whether the
    /// ring still receives for it or not (after a switch to TLS the ring's last bytes are still its).
    /// </summary>
    private bool ReadingWanted(IoUringReceiver r) =>
        Watched(r.Fd) is { } w && ReferenceEquals(w.KernelOwner, r.Owner) && (w.KernelMask & PollFlags.In) != 0;

    /// <summary>
    /// A read from the queued completions: bytes copied (across completions, as one recv(2) would),
    /// 0 at the end of stream, <see cref="Dispatcher.WouldBlock"/> when nothing is queued yet, or the
    /// negative errno of a failed receive.
    /// </summary>
    internal int Receive(IoUringReceiver r, Span<byte> into)
    {
        if (!r.Want && !r.Armed && !r.HasInput)
        {
            return NotReceiving; // no receive in the kernel and nothing queued: recv(2) is safe and in order
        }

        int n = 0;
        if (r.Carry is { } carry && r.CarryStart < carry.Length)
        {
            int take = Math.Min(into.Length, carry.Length - r.CarryStart);
            carry.AsSpan(r.CarryStart, take).CopyTo(into);
            r.CarryStart += take;
            n = take;
            if (r.CarryStart == carry.Length)
            {
                r.Carry = null;
                r.CarryStart = 0;
            }
        }

        if (into.Length >= LargeBufferSize && !r.Large && !r.WantsLarge && !r.Detached && !_largeRefused)
        {
            // The channel reads ahead now (a bulk stream): its receive ends once and is armed again on the large buffers.
            r.WantsLarge = true;
            if (r.Armed && !r.Cancelling)
            {
                CancelRecv(r);
            }
        }

        while (n < into.Length && r.Held > 0 && _buffers is not null && !r.Detached)
        {
            ref (ushort Bid, int Offset, int Length) head = ref r.Head;
            int take = Math.Min(into.Length - n, head.Length - head.Offset);
            new ReadOnlySpan<byte>(BufferOf(head.Bid) + head.Offset, take).CopyTo(into[n..]);
            head.Offset += take;
            n += take;
            if (head.Offset == head.Length)
            {
                ushort bid = head.Bid;
                r.Dequeue();
                Return(bid);
            }
        }

        PublishBuffers();

        if (!r.Armed && !r.Detached)
        {
            QueueArmRecv(r);
        }

        if (n > 0)
        {
            return n;
        }

        if (r.Error != 0)
        {
            return -r.Error;
        }

        return r.Eof ? 0 : Dispatcher.WouldBlock;
    }

    private void GiveBack(ushort tagged)
    {
        Return(tagged);
        PublishBuffers();
    }

    /// <summary>The channel left (by <see cref="Remove"/>): its queued buffers go back, its receive is cancelled.</summary>
    /// <returns>Whether a cancellation was taken (to be submitted before the socket closes).</returns>
    private bool DetachReceiver(IoUringReceiver r)
    {
        r.Detached = true;
        if (_buffers is not null)
        {
            while (r.Held > 0)
            {
                Return(r.Head.Bid);
                r.Dequeue();
            }

            PublishBuffers();
        }

        if (!r.Armed)
        {
            return false;
        }

        _detachedReceivers[r.UserData] = r;
        if (!r.Cancelling)
        {
            CancelRecv(r);
        }

        return true;
    }

    private void DropReceiver(IoUringReceiver r)
    {
        _receivers.Remove(r.Fd);
        DetachReceiver(r);
    }

    /// <summary>
    /// Before the ring closes: cancels every receive and reads completions until each has ended (at
    /// most 100 ms), so none can still pick a buffer.
    /// </summary>
    /// <returns>Whether every receive ended (the buffers may then be freed); false leaves them to the process.</returns>
    private bool EndReceives()
    {
        if (_buffers is null)
        {
            return true;
        }

        if (!_ring.UsableHere)
        {
            return false;
        }

        foreach (IoUringReceiver r in _receivers.Values)
        {
            r.Want = false;
            if (r.Armed && !r.Cancelling)
            {
                CancelRecv(r);
            }
        }

        Span<PollEvent> ignored = stackalloc PollEvent[64];
        long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 10;
        while (ReceivesArmed())
        {
            if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline)
            {
                return false;
            }

            int errno = _ring.Enter(1, 10, getEvents: true);
            if (errno is not (0 or Libc.ETIME or Libc.EINTR or Libc.EBUSY))
            {
                return false;
            }

            while (Reap(ignored) > 0)
            {
            }
        }

        return true;
    }

    private bool ReceivesArmed()
    {
        if (_detachedReceivers.Count > 0)
        {
            return true;
        }

        foreach (IoUringReceiver r in _receivers.Values)
        {
            if (r.Armed)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Before the ring that owns the buffers closes (the map is disposed): each receiver's unread bytes are copied out, so the channel still reads them, and every receiver is detached.</summary>
    private void CarryOverReceives()
    {
        foreach (IoUringReceiver r in _receivers.Values)
        {
            if (r.Held > 0 && _buffers is not null)
            {
                var bytes = new ArrayBufferWriter<byte>();
                if (r.Carry is { } old)
                {
                    bytes.Write(old.AsSpan(r.CarryStart));
                }

                while (r.Held > 0)
                {
                    ref (ushort Bid, int Offset, int Length) head = ref r.Head;
                    bytes.Write(new ReadOnlySpan<byte>(BufferOf(head.Bid) + head.Offset, head.Length - head.Offset));
                    r.Dequeue();
                }

                r.Carry = bytes.WrittenSpan.ToArray();
                r.CarryStart = 0;
            }

            r.Armed = false;
            r.Cancelling = false;
            r.QueuedToArm = false;
            r.Detached = true;
        }

        _detachedReceivers.Clear();
        _toArmRecv.Clear();

        // The old buffers may still be written by receives the closing ring cancels: they are never freed or reused.
        _buffers = null;
        _largeBuffers = null;
        _largeRefused = false;
    }
}
