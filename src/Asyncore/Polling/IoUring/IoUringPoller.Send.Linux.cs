using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// One channel's sends through the ring: the bytes a send accepted, copied into a native buffer that
/// stays put while the kernel reads it, and at most one IORING_OP_SEND for them. Sends accepted
/// before that entry reaches the kernel are added to it, so one pass's replies leave in one send.
/// </summary>
internal sealed unsafe class IoUringSender : IoUringOperand
{
    /// <summary>The buffer of a channel that sends more than a small answer in one pass.</summary>
    internal const int Capacity = 64 * 1024;

    /// <summary>
    /// The most bytes one channel has accepted and not yet seen completed; a send past it answers
    /// would-block. A channel comes to a buffer this large only when one pass gives it more than
    /// <see cref="Capacity"/> to send (a bulk transfer): one SEND then carries up to 256 KiB, as one
    /// write(2) of a large block does.
    /// </summary>
    internal const int LargeCapacity = 256 * 1024;

    /// <summary>
    /// The buffer a channel starts with when its first send is this small or smaller (an answer, a
    /// prompt); it is exchanged for a <see cref="Capacity"/> one, before the kernel sees the SEND,
    /// once more is sent. A channel whose small answer waits behind a peer that does not read holds
    /// 4 KiB, not 64.
    /// </summary>
    internal const int SmallCapacity = 4 * 1024;

    internal IoUringSender(nint fd, object owner, uint generation) : base(fd, owner, generation)
    {
    }

    /// <summary>The bytes accepted and not completed: <c>Buffer[Start..End]</c>; null when none are held.</summary>
    internal byte* Buffer;

    /// <summary>The size of <see cref="Buffer"/>: <see cref="SmallCapacity"/>, <see cref="Capacity"/> or <see cref="LargeCapacity"/>.</summary>
    internal int BufferCapacity;

    internal int Start;

    internal int End;

    /// <summary>A SEND for <c>Buffer[Start..End]</c> was taken from the ring and has not completed.</summary>
    internal bool InFlight;

    /// <summary>The ring's epoch when the SEND was taken: while it is the same, the kernel has not seen the entry and it may still grow.</summary>
    internal ulong SqeEpoch;

    internal Libc.IoUringSqe* Sqe;

    /// <summary>The errno a SEND completed with; the channel's next send reports it.</summary>
    internal int Error;

    /// <summary>The channel waits for this SEND (it was told would-block, or its close waits): a write event when it completes.</summary>
    internal bool Notify;

    /// <summary>The channel left the map, or the backend was replaced: this sender takes no more bytes.</summary>
    internal bool Detached;

}

/// <content>The send half of the data path (see docs/design.md, "io_uring").</content>
internal sealed unsafe partial class IoUringPoller
{
    private const int MaxFreeBuffers = 64;

    /// <summary>Idle <see cref="IoUringSender.LargeCapacity"/> buffers kept for reuse (4 MiB).</summary>
    private const int MaxFreeLargeBuffers = 16;

    private readonly Dictionary<nint, IoUringSender> _senders = new();

    /// <summary>SENDs still in the kernel whose channel has left: their buffers are freed when they complete.</summary>
    private readonly Dictionary<ulong, IoUringSender> _detached = new();

    private readonly Stack<nint> _freeBuffers = new();

    private readonly Stack<nint> _freeSmallBuffers = new();

    private readonly Stack<nint> _freeLargeBuffers = new();

    /// <summary>SENDs taken at epoch <see cref="_silentEpoch"/> (not handed to the kernel yet) whose completion nobody waits for.</summary>
    private uint _silentSends;

    private ulong _silentEpoch;

    /// <summary>How many completions of SENDs about to be submitted will not be worth waking for.</summary>
    private uint SilentSendsToSubmit => _silentEpoch == _ring.Epoch ? _silentSends : 0;

    /// <summary>The sender of the channel whose socket is <paramref name="owner"/> under <paramref name="fd"/>.</summary>
    internal IoUringSender SenderFor(nint fd, object owner)
    {
        if (_senders.TryGetValue(fd, out IoUringSender? s))
        {
            if (ReferenceEquals(s.Owner, owner) && !s.Detached)
            {
                return s;
            }

            // Left without passing through Remove (the library always calls it; this is a safety net).
            _senders.Remove(fd);
            Forget(s);
        }

        s = new IoUringSender(fd, owner, NextGeneration() | SendBit);
        _senders[fd] = s;
        return s;
    }

    /// <summary>
    /// Accepts up to <see cref="IoUringSender.LargeCapacity"/> bytes for the next wait to send: the count
    /// accepted, or <see cref="Dispatcher.WouldBlock"/> when the channel's SEND is in the kernel already
    /// (one at a time keeps the bytes in order) or its buffer is full.
    /// </summary>
    internal int Send(IoUringSender s, ReadOnlySpan<byte> data)
    {
        bool growable = s.InFlight && s.SqeEpoch == _ring.Epoch;
        if (s.InFlight && !growable)
        {
            s.Notify = true;
            return Dispatcher.WouldBlock;
        }

        if (!s.InFlight)
        {
            s.Start = s.End = 0;
        }

        if (s.Buffer == null)
        {
            s.BufferCapacity = CapacityFor(data.Length);
            s.Buffer = RentBuffer(s.BufferCapacity);
        }
        else if (s.BufferCapacity < IoUringSender.LargeCapacity && s.End + data.Length > s.BufferCapacity)
        {
            Enlarge(s, CapacityFor(s.End + data.Length), growable);
        }

        int n = Math.Min(s.BufferCapacity - s.End, data.Length);
        if (n <= 0)
        {
            s.Notify = true;
            return Dispatcher.WouldBlock;
        }

        data[..n].CopyTo(new Span<byte>(s.Buffer + s.End, n));
        s.End += n;
        if (growable)
        {
            s.Sqe->Len = (uint)(s.End - s.Start);
        }
        else
        {
            QueueSend(s);
        }

        return n;
    }

    /// <summary>The smallest buffer class that holds <paramref name="bytes"/>, up to <see cref="IoUringSender.LargeCapacity"/>.</summary>
    private static int CapacityFor(int bytes) => bytes switch
    {
        <= IoUringSender.SmallCapacity => IoUringSender.SmallCapacity,
        <= IoUringSender.Capacity => IoUringSender.Capacity,
        _ => IoUringSender.LargeCapacity,
    };

    /// <summary>Moves the held bytes into a buffer of <paramref name="capacity"/>; a SEND the kernel has not seen yet is pointed at it.</summary>
    private void Enlarge(IoUringSender s, int capacity, bool growable)
    {
        byte* large = RentBuffer(capacity);
        int held = s.End - s.Start;
        new ReadOnlySpan<byte>(s.Buffer + s.Start, held).CopyTo(new Span<byte>(large, held));
        byte* small = s.Buffer;
        int smallCapacity = s.BufferCapacity;
        s.Buffer = large;
        s.BufferCapacity = capacity;
        s.Start = 0;
        s.End = held;
        if (growable)
        {
            s.Sqe->Addr = (ulong)s.Buffer;
            s.Sqe->Len = (uint)held;
        }

        ReturnBuffer(small, smallCapacity);
    }

    private void QueueSend(IoUringSender s)
    {
        ref Libc.IoUringSqe sqe = ref _ring.NextSqe();
        sqe.Opcode = Libc.IORING_OP_SEND;
        sqe.Fd = (int)s.Fd;
        sqe.Addr = (ulong)(s.Buffer + s.Start);
        sqe.Len = (uint)(s.End - s.Start);
        // WAITALL: the kernel retries a short send itself until every byte went or an error came.
        sqe.OpFlags = Libc.MSG_WAITALL | Libc.MSG_NOSIGNAL;
        sqe.UserData = s.UserData;
        s.Sqe = (Libc.IoUringSqe*)Unsafe.AsPointer(ref sqe);
        s.SqeEpoch = _ring.Epoch; // read after NextSqe, which may have handed a full ring to the kernel
        s.InFlight = true;
        if (!s.Notify)
        {
            if (_silentEpoch != _ring.Epoch)
            {
                _silentEpoch = _ring.Epoch; // those counted before were handed to the kernel already
                _silentSends = 0;
            }

            _silentSends++;
        }
    }

    /// <summary>A SEND completed: the event the channel hears, if any (write when it waited, an error closes).</summary>
    private PollFlags SendCompleted(in Libc.IoUringCqe cqe, nint fd, uint generation)
    {
        IoUringSender? s = _senders.TryGetValue(fd, out IoUringSender? live) && live.Generation == generation
            ? live
            : _detached.Remove(cqe.UserData, out IoUringSender? gone) ? gone : null;
        if (s is null || !s.InFlight)
        {
            return PollFlags.None;
        }

        s.InFlight = false;
        if (s.Detached)
        {
            FreeHeld(s);
            return PollFlags.None;
        }

        if (cqe.Res < 0)
        {
            s.Error = -cqe.Res;
            FreeHeld(s);
            return PollFlags.Err; // the loop closes it (HandleClose), as a send error from a gone peer does
        }

        s.Start += cqe.Res;
        if (s.Start < s.End)
        {
            QueueSend(s); // the rest, before anything newer
            return PollFlags.None;
        }

        FreeHeld(s);
        if (!s.Notify)
        {
            return PollFlags.None;
        }

        s.Notify = false;
        // A channel watched for writing hears it from its poll when the socket takes more.
        return Watched(fd) is { } w && (w.KernelMask & PollFlags.Out) != 0 ? PollFlags.None : PollFlags.Out;
    }

    /// <summary>The channel leaves after its SEND was handed to the kernel (by <see cref="Remove"/>).</summary>
    private void DetachInFlight(IoUringSender s)
    {
        s.Detached = true;
        _detached[s.UserData] = s;
        if (_ring.HasCompletionFor(s.UserData))
        {
            return; // done already: its completion frees the buffer
        }

        // Still in the kernel: the socket is full and the peer is not reading. Closing would have lost the
        // bytes the socket could not take; cancel, so the request does not hold the socket open.
        ref Libc.IoUringSqe sqe = ref _ring.NextSqe();
        sqe.Opcode = Libc.IORING_OP_ASYNC_CANCEL;
        sqe.Fd = -1;
        sqe.Addr = s.UserData;
        sqe.UserData = Ignored;
        _ring.Submit();
    }

    /// <summary>A sender that is no longer used: a SEND never handed to the kernel is turned into a no-op, one in flight frees at completion.</summary>
    private void Forget(IoUringSender s)
    {
        s.Detached = true;
        if (!s.InFlight)
        {
            FreeHeld(s);
            return;
        }

        if (s.SqeEpoch == _ring.Epoch && !_ring.Disposed)
        {
            TakeBackUnsubmitted(s); // the number it names may belong to another socket now
            FreeHeld(s);
            return;
        }

        _detached[s.UserData] = s;
    }

    /// <summary>
    /// Takes back a SEND the kernel has not seen yet (taken at the ring's current epoch): its entry
    /// becomes an IORING_OP_NOP whose completion is dropped as <see cref="Ignored"/>, and its bytes stay
    /// in the sender's buffer. The whole entry is cleared: a NOP that keeps the SEND's msg_flags (the
    /// nop_flags union) or its IOSQE flags is refused with EINVAL by newer kernels.
    /// </summary>
    private void TakeBackUnsubmitted(IoUringSender s)
    {
        *s.Sqe = default;
        s.Sqe->UserData = Ignored;
        s.InFlight = false;
    }

    /// <summary>Removal from a thread that may not submit: what the kernel has not seen goes out as a plain send now.</summary>
    private void SendUnsubmittedPlainly(IoUringSender s, ulong epoch)
    {
        s.Detached = true;
        if (!s.InFlight)
        {
            FreeHeld(s);
            return;
        }

        if (s.SqeEpoch != epoch)
        {
            s.Buffer = null; // in the kernel: the closing ring may still read it, so it is never reused
            s.InFlight = false;
            return;
        }

        PlainSend(s);
        s.InFlight = false;
        FreeHeld(s);
    }

    private static void PlainSend(IoUringSender s)
    {
        while (s.Start < s.End)
        {
            nint n = Libc.Send((int)s.Fd, s.Buffer + s.Start, (nuint)(s.End - s.Start), (int)(Libc.MSG_DONTWAIT | Libc.MSG_NOSIGNAL));
            if (n <= 0)
            {
                break; // full or gone: as a close drops what the socket cannot take
            }

            s.Start += (int)n;
        }
    }

    private void DisposeSends(ulong epoch, bool ringWasClosed)
    {
        foreach (IoUringSender s in _senders.Values)
        {
            s.Detached = true;
            if (s.InFlight && s.SqeEpoch == epoch && !ringWasClosed)
            {
                PlainSend(s); // the backend is replaced while the channel stays: the kernel never saw these bytes
                s.InFlight = false;
            }

            if (!s.InFlight && s.Buffer != null)
            {
                NativeMemory.Free(s.Buffer);
            }

            s.Buffer = null; // one in flight is left to the closing ring
        }

        _senders.Clear();
        _detached.Clear();
        FreeIdleSendBuffers();
    }

    /// <summary>How many SEND buffers are kept idle for reuse (tests).</summary>
    internal int IdleSendBuffers => _freeSmallBuffers.Count + _freeBuffers.Count + _freeLargeBuffers.Count;

    /// <summary>
    /// Hands back what a burst of sends left behind: the idle SEND buffers kept for reuse (up to 4 MiB
    /// of 256 KiB ones, 4 MiB of 64 KiB ones and 256 KiB of 4 KiB ones) and the senders' table's spare
    /// room. A buffer that holds bytes not yet sent stays with its sender; the next sends rent new ones.
    /// </summary>
    /// <remarks>Called by the loop's memory hand-back (<see cref="Reactor.ReactorCore.TrimBuffers"/>), on the loop's thread.</remarks>
    public void Trim()
    {
        FreeIdleSendBuffers();
        _senders.TrimExcess();
        _detached.TrimExcess();
    }

    private void FreeIdleSendBuffers()
    {
        foreach (Stack<nint> free in (ReadOnlySpan<Stack<nint>>)[_freeSmallBuffers, _freeBuffers, _freeLargeBuffers])
        {
            while (free.TryPop(out nint b))
            {
                NativeMemory.Free((void*)b);
            }

            free.TrimExcess();
        }
    }

    private Stack<nint> FreeList(int capacity) => capacity switch
    {
        IoUringSender.SmallCapacity => _freeSmallBuffers,
        IoUringSender.Capacity => _freeBuffers,
        _ => _freeLargeBuffers,
    };

    private byte* RentBuffer(int capacity) =>
        FreeList(capacity).TryPop(out nint b) ? (byte*)b : (byte*)NativeMemory.Alloc((nuint)capacity);

    private void ReturnBuffer(byte* buffer, int capacity)
    {
        Stack<nint> free = FreeList(capacity);
        if (free.Count < (capacity == IoUringSender.LargeCapacity ? MaxFreeLargeBuffers : MaxFreeBuffers))
        {
            free.Push((nint)buffer);
        }
        else
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>Returns the sender's buffer once no SEND reads it; memory follows what is in flight now.</summary>
    private void FreeHeld(IoUringSender s)
    {
        s.Start = s.End = 0;
        if (s.Buffer == null)
        {
            return;
        }

        ReturnBuffer(s.Buffer, s.BufferCapacity);
        s.Buffer = null;
    }
}
