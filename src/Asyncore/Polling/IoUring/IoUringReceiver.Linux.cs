using System.Buffers;
using System.Runtime.InteropServices;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// One channel's receives through the ring: a multishot IORING_OP_RECV that picks buffers from the
/// poller's provided-buffer ring, and the completions it brought that the channel has not read yet
/// (in order, the first one possibly read in part).
/// </summary>
internal sealed unsafe class IoUringReceiver : IoUringOperand
{
    /// <summary>The most small ring buffers one channel holds unread before its receive is stopped (it starts again once it has read half).</summary>
    internal const int MaxHeld = 16;

    /// <summary>The same for a channel on the large buffers: 8 of 64 KiB, 512 KiB.</summary>
    internal const int MaxHeldLarge = 8;

    /// <summary>The mark on a queued buffer number that says it is one of the large group's.</summary>
    internal const ushort LargeTag = 0x8000;

    /// <summary>The generation bit of a receiver on the large buffers.</summary>
    internal const uint LargeBit = 0x2000_0000;

    private (ushort Bid, int Offset, int Length)[] _queue = new (ushort, int, int)[MaxHeld * 2];
    private int _head;
    private int _count;

    internal IoUringReceiver(nint fd, object owner, uint generation) : base(fd, owner, generation)
    {
    }

    /// <summary>Its receives pick from the large buffers (the channel reads 64 KiB or more at a time).</summary>
    internal bool Large => (Generation & LargeBit) != 0;

    /// <summary>The most buffers it holds unread before its receive is stopped.</summary>
    internal int HeldCap => Large ? MaxHeldLarge : MaxHeld;

    /// <summary>
    /// The channel came to read 64 KiB or more at a time (it reads ahead while its reads come back
    /// full) on the small buffers: its receive is ended once, and armed again on the large ones.
    /// </summary>
    internal bool WantsLarge;

    /// <summary>Moves the receiver to the large buffers, under a new generation; only while its receive is not in the kernel (what it holds stays, each buffer tagged with its group).</summary>
    internal void MoveToLarge(uint generation)
    {
        Generation = generation | LargeBit;
        WantsLarge = false;
    }

    /// <summary>The channel wants to read (its interest has POLLIN).</summary>
    internal bool Want;

    /// <summary>A multishot receive is in the kernel (its last completion, without F_MORE, has not come).</summary>
    internal bool Armed;

    /// <summary>A cancellation of the armed receive was asked for.</summary>
    internal bool Cancelling;

    /// <summary>On the poller's list of receivers to arm at the next wait.</summary>
    internal bool QueuedToArm;

    /// <summary>On the poller's list of receivers with input to report.</summary>
    internal bool Listed;

    /// <summary>The wait in which an event for this descriptor already said readable.</summary>
    internal long ReportedWait;

    /// <summary>The peer's end of stream came (after the queued bytes).</summary>
    internal bool Eof;

    /// <summary>The errno a receive completed with (after the queued bytes).</summary>
    internal int Error;

    /// <summary>The channel left the map or the backend was replaced: only <see cref="Carry"/> is still read.</summary>
    internal bool Detached;

    /// <summary>Bytes carried over from buffers of a ring that was replaced; read before the queue.</summary>
    internal byte[]? Carry;

    internal int CarryStart;

    internal int Held => _count;

    internal bool HasBytes => _count > 0 || (Carry is not null && CarryStart < Carry.Length);

    /// <summary>Something for a read to return: bytes, the end of stream, or an error.</summary>
    internal bool HasInput => HasBytes || Eof || Error != 0;

    internal void Enqueue(ushort bid, int length)
    {
        if (_count == _queue.Length)
        {
            var bigger = new (ushort, int, int)[_queue.Length * 2];
            for (int i = 0; i < _count; i++)
            {
                bigger[i] = _queue[(_head + i) % _queue.Length];
            }

            _queue = bigger;
            _head = 0;
        }

        _queue[(_head + _count) % _queue.Length] = (bid, 0, length);
        _count++;
    }

    internal ref (ushort Bid, int Offset, int Length) Head => ref _queue[_head];

    internal void Dequeue()
    {
        _head = (_head + 1) % _queue.Length;
        _count--;
    }
}
