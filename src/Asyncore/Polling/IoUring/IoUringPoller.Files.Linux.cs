using System.Runtime.InteropServices;
using Asyncore.Interop;
using Microsoft.Win32.SafeHandles;

namespace Asyncore.Polling;

/// <summary>
/// One channel's file sends through the ring: at most one IORING_OP_READ of the file into a native
/// buffer, linked (IOSQE_IO_LINK) to the IORING_OP_SEND of that buffer, in the kernel at a time. The
/// channel's file region stays at the head of its queue while they run; the next send from the region
/// takes their result (bytes the socket took, 0 where the file ended, or an error).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed unsafe class IoUringFileSender : IoUringOperand
{
    /// <summary>The most bytes one READ and SEND pair carries (the sender's large buffer).</summary>
    internal const int Chunk = IoUringSender.LargeCapacity;

    internal IoUringFileSender(nint fd, object owner, uint generation) : base(fd, owner, generation)
    {
    }

    /// <summary>The buffer the READ fills and the SEND reads; null when no pair is in flight.</summary>
    internal byte* Buffer;

    /// <summary>The file the pair reads, with a reference taken on it until both complete.</summary>
    internal SafeFileHandle? File;

    /// <summary>The file offset the pair reads from.</summary>
    internal long Offset;

    /// <summary>The bytes the pair was asked for.</summary>
    internal int Length;

    /// <summary>A pair (or the SEND of a short read's bytes) is in the kernel or waits to be handed to it.</summary>
    internal bool Busy;

    /// <summary>Completions still to come for what is in flight.</summary>
    internal int Pending;

    /// <summary>The READ's result (bytes, or a negative errno).</summary>
    internal int ReadResult;

    /// <summary>The SEND's result (bytes, or a negative errno).</summary>
    internal int SendResult;

    /// <summary>What is in flight is the SEND of the bytes a short READ brought (the file ends after them).</summary>
    internal bool SendingShortRead;

    /// <summary>The SEND's completion was read.</summary>
    internal bool SendSeen;

    /// <summary>A result is ready for the channel's next send from the region.</summary>
    internal bool HasResult;

    /// <summary>The result: bytes the socket took (0: the file ended at <see cref="Offset"/>), when <see cref="ResultErrno"/> is 0.</summary>
    internal int ResultBytes;

    /// <summary>The errno the pair failed with (0: none).</summary>
    internal int ResultErrno;

    /// <summary>Whether <see cref="ResultErrno"/> is the file's (the READ failed) rather than the socket's.</summary>
    internal bool ResultFromFile;

    /// <summary>The channel left the map (or the ring closed): its completions only free what it held.</summary>
    internal bool Detached;

    /// <summary>The user_data of the READ: the pair's own, with <see cref="IoUringPoller.FileReadBit"/>.</summary>
    internal ulong ReadUserData => UserDataOf(Fd, Generation | IoUringPoller.FileReadBit);
}

/// <content>File regions sent through the ring: a READ into a buffer linked to a SEND of it (see docs/design.md, "File regions on io_uring").</content>
internal sealed unsafe partial class IoUringPoller
{
    /// <summary>With <see cref="SendBit"/>: the generation of a channel's file sends.</summary>
    internal const uint FileBit = 0x1000_0000;

    /// <summary>With <see cref="FileBit"/>: the READ of a pair (the SEND has the pair's plain user_data).</summary>
    internal const uint FileReadBit = 0x0800_0000;

    /// <summary>What <see cref="SendFile"/> returns when the file cannot be sent through the ring (the caller copies it).</summary>
    internal const int FileNotReadable = -3;

    /// <summary>What <see cref="SendFile"/> returns when the socket failed (the errno says how).</summary>
    internal const int FileSendFailed = -4;

    private readonly Dictionary<nint, IoUringFileSender> _fileSenders = new();

    /// <summary>Pairs still in the kernel whose channel has left: what they hold is freed when both complete.</summary>
    private readonly Dictionary<ulong, IoUringFileSender> _detachedFiles = new();

    /// <summary>The file sender of the channel whose socket is <paramref name="owner"/> under <paramref name="fd"/>.</summary>
    internal IoUringFileSender FileSenderFor(nint fd, object owner)
    {
        if (_fileSenders.TryGetValue(fd, out IoUringFileSender? f))
        {
            if (ReferenceEquals(f.Owner, owner) && !f.Detached)
            {
                return f;
            }

            _fileSenders.Remove(fd);
            ForgetFile(f, null);
        }

        f = new IoUringFileSender(fd, owner, NextGeneration() | SendBit | FileBit);
        _fileSenders[fd] = f;
        return f;
    }

    /// <summary>
    /// One step of sending <paramref name="count"/> bytes of <paramref name="file"/> from
    /// <paramref name="offset"/>: the result of the pair that completed for that offset (and the next
    /// pair queued behind it), or a new pair queued. Bytes the channel's <paramref name="sender"/> has not
    /// handed to the kernel yet go first: the pair is linked behind their SEND.
    /// </summary>
    /// <returns>
    /// Bytes the socket took (0: the file ends at <paramref name="offset"/>); <see cref="Dispatcher.WouldBlock"/>
    /// while a pair (or the sender's SEND) is in flight, the channel then hears a write event when it
    /// completes; <see cref="FileSendFailed"/> (the socket failed with <paramref name="errno"/>); or <see cref="FileNotReadable"/>.
    /// </returns>
    /// <exception cref="IOException">Reading the file failed.</exception>
    internal int SendFile(IoUringFileSender f, IoUringSender sender, SafeFileHandle file, long offset, int count, out int errno)
    {
        errno = 0;
        if (f.HasResult)
        {
            f.HasResult = false;
            if (ReferenceEquals(f.File, file) && f.Offset == offset)
            {
                f.File = null;
                if (f.ResultErrno != 0)
                {
                    errno = f.ResultErrno;
                    if (!f.ResultFromFile)
                    {
                        return FileSendFailed;
                    }

                    if (errno is Libc.EINVAL or Libc.EOPNOTSUPP or Libc.ENOSYS)
                    {
                        return FileNotReadable;
                    }

                    throw Errors.IOError(errno);
                }

                int n = f.ResultBytes;
                if (n > 0 && n < count)
                {
                    QueuePair(f, sender, file, offset + n, Math.Min(count - n, IoUringFileSender.Chunk)); // the next part, before the channel asks
                }

                return n;
            }

            f.File = null; // the result of a region the channel dropped: its bytes went out, as bytes a send took do
        }

        if (f.Busy)
        {
            return Dispatcher.WouldBlock;
        }

        return QueuePair(f, sender, file, offset, Math.Min(count, IoUringFileSender.Chunk)) ? Dispatcher.WouldBlock : WaitForSender(sender);
    }

    /// <summary>The channel's SEND of bytes is in the kernel already: the pair waits for its completion (a write event).</summary>
    private static int WaitForSender(IoUringSender sender)
    {
        sender.Notify = true;
        return Dispatcher.WouldBlock;
    }

    /// <summary>Takes the READ and the SEND of a pair; false when the channel's own SEND is in the kernel and the pair must wait for it.</summary>
    private bool QueuePair(IoUringFileSender f, IoUringSender sender, SafeFileHandle file, long offset, int length)
    {
        // A SEND the kernel has not seen yet is linked to the pair: it must be the last entry taken, and
        // the three entries must go to the kernel together (a full ring would hand over a broken chain).
        if (sender.InFlight && sender.SqeEpoch == _ring.Epoch && (_ring.FreeEntries < 2 || !_ring.IsLastTaken(sender.Sqe)))
        {
            _ring.Submit();
        }

        if (sender.InFlight && sender.SqeEpoch != _ring.Epoch && sender.SqeEpoch != SealedEpoch)
        {
            return false;
        }

        if (!sender.InFlight && _ring.FreeEntries < 2)
        {
            _ring.Submit();
        }

        bool fileRef = false;
        file.DangerousAddRef(ref fileRef);
        f.File = file;
        f.Offset = offset;
        f.Length = length;
        f.Buffer = RentBuffer(IoUringSender.LargeCapacity);
        f.Busy = true;
        f.Pending = 2;
        f.SendingShortRead = false;
        f.ReadResult = f.SendResult = 0;
        f.SendSeen = false;
        if (sender.InFlight && sender.SqeEpoch == _ring.Epoch)
        {
            sender.Sqe->Flags |= Libc.IOSQE_IO_LINK;
            sender.SqeEpoch = SealedEpoch; // its entry takes no more bytes: they would go before the file's
        }

        ref Libc.IoUringSqe read = ref _ring.NextSqe();
        read.Opcode = Libc.IORING_OP_READ;
        read.Flags = Libc.IOSQE_IO_LINK; // a short READ fails the link: the SEND is cancelled
        read.Fd = (int)file.DangerousGetHandle();
        read.Off = (ulong)offset;
        read.Addr = (ulong)f.Buffer;
        read.Len = (uint)length;
        read.UserData = f.ReadUserData;
        QueueFileSend(f, length);
        return true;
    }

    /// <summary>A sender entry linked to a pair: it is in the ring, not growable, whatever the epoch.</summary>
    private const ulong SealedEpoch = ulong.MaxValue;

    private void QueueFileSend(IoUringFileSender f, int length)
    {
        ref Libc.IoUringSqe send = ref _ring.NextSqe();
        send.Opcode = Libc.IORING_OP_SEND;
        send.Fd = (int)f.Fd;
        send.Addr = (ulong)f.Buffer;
        send.Len = (uint)length;
        send.OpFlags = Libc.MSG_WAITALL | Libc.MSG_NOSIGNAL;
        send.UserData = f.UserData;
    }

    /// <summary>A READ or SEND of a pair completed: the channel hears a write event when the pair is through.</summary>
    private PollFlags FileCompleted(in Libc.IoUringCqe cqe, nint fd, uint generation)
    {
        bool isRead = (generation & FileReadBit) != 0;
        uint pair = generation & ~FileReadBit;
        IoUringFileSender? f = _fileSenders.TryGetValue(fd, out IoUringFileSender? live) && live.Generation == pair
            ? live
            : _detachedFiles.TryGetValue(IoUringOperand.UserDataOf(fd, pair), out IoUringFileSender? gone) ? gone : null;
        if (f is null || !f.Busy)
        {
            return PollFlags.None;
        }

        if (isRead)
        {
            f.ReadResult = cqe.Res;
        }
        else
        {
            f.SendResult = cqe.Res;
            f.SendSeen = true;
        }

        if (--f.Pending > 0)
        {
            return PollFlags.None;
        }

        if (f.Detached)
        {
            _detachedFiles.Remove(f.UserData);
            EndPair(f);
            f.File = null;
            return PollFlags.None;
        }

        if (!f.SendingShortRead && f.ReadResult >= 0 && f.ReadResult < f.Length && f.ReadResult > 0)
        {
            // The file ended inside the pair (it shrank): its SEND was cancelled; the bytes read go now, and
            // the next READ, at the new end, finds the end of the file.
            f.SendingShortRead = true;
            f.SendSeen = false;
            f.Pending = 1;
            if (_ring.FreeEntries < 1)
            {
                _ring.Submit();
            }

            QueueFileSend(f, f.ReadResult);
            return PollFlags.None;
        }

        f.ResultErrno = 0;
        f.ResultFromFile = false;
        f.ResultBytes = 0;
        if (f.SendingShortRead)
        {
            SetSendResult(f);
        }
        else if (f.ReadResult < 0)
        {
            // ECANCELED: the channel's SEND before the pair failed (it reports that itself); nothing was sent.
            f.ResultErrno = f.ReadResult == -Libc.ECANCELED ? 0 : -f.ReadResult;
            f.ResultFromFile = f.ResultErrno != 0;
        }
        else if (f.ReadResult > 0)
        {
            SetSendResult(f);
        }

        EndPair(f);
        f.HasResult = true;
        return Watched(fd) is { } w && (w.KernelMask & PollFlags.Out) != 0 ? PollFlags.None : PollFlags.Out;
    }

    private static void SetSendResult(IoUringFileSender f)
    {
        if (f.SendResult >= 0)
        {
            f.ResultBytes = f.SendResult;
        }
        else if (f.SendResult != -Libc.ECANCELED)
        {
            f.ResultErrno = -f.SendResult;
        }
    }

    /// <summary>Nothing of the pair is in the kernel any more: its buffer goes back, the file reference is dropped (the file is kept for the result's match).</summary>
    private void EndPair(IoUringFileSender f)
    {
        f.Busy = false;
        f.Pending = 0;
        if (f.Buffer != null)
        {
            ReturnBuffer(f.Buffer, IoUringSender.LargeCapacity);
            f.Buffer = null;
        }

        f.File?.DangerousRelease();
    }

    /// <summary>
    /// The channel left (by <see cref="Remove"/>, before its socket closes): a pair in flight is handed to
    /// the kernel if it has not been, and cancelled; its buffer and file are released when both complete.
    /// </summary>
    /// <param name="f">The channel's file sender.</param>
    /// <param name="sender">The channel's sender, whose SEND may be linked ahead of the pair.</param>
    private void ForgetFile(IoUringFileSender f, IoUringSender? sender)
    {
        f.Detached = true;
        f.HasResult = false;
        if (!f.Busy)
        {
            f.File = null;
            return;
        }

        if (!_ring.UsableHere)
        {
            // Another thread: the caller closes the ring, which cancels the pair; what the kernel may still
            // read is never reused.
            f.Buffer = null;
            EndPair(f);
            f.File = null;
            return;
        }

        _detachedFiles[f.UserData] = f;
        if (sender is { InFlight: true, SqeEpoch: SealedEpoch })
        {
            Cancel(sender.UserData); // the SEND the pair is linked behind: its cancellation cancels the pair
        }

        Cancel(f.ReadUserData);
        Cancel(f.UserData);
        _ring.Submit(); // the pair first (in order), then the cancellations
        if (f.SendingShortRead || f.SendSeen)
        {
            return; // a SEND not linked names its socket from the submission on
        }

        // A linked SEND takes its socket by number only when the READ before it is done. The socket's
        // number is free for reuse once the channel closes it, so the SEND must be finished (or
        // cancelled) first: a READ that waits for the disk cannot be cancelled, and is waited for.
        long until = Environment.TickCount64 + 5000;
        while (!_ring.HasCompletionFor(f.UserData) && Environment.TickCount64 < until)
        {
            _ring.Enter(1, 10, getEvents: true);
        }
    }

    private void Cancel(ulong userData)
    {
        if (_ring.FreeEntries < 1)
        {
            _ring.Submit();
        }

        ref Libc.IoUringSqe sqe = ref _ring.NextSqe();
        sqe.Opcode = Libc.IORING_OP_ASYNC_CANCEL;
        sqe.Fd = -1;
        sqe.Addr = userData;
        sqe.UserData = Ignored;
    }

    /// <summary>The ring closes: pairs still in flight leave their buffers to it; file references are dropped.</summary>
    private void DisposeFiles()
    {
        foreach (IoUringFileSender f in _fileSenders.Values)
        {
            f.Detached = true;
            if (f.Busy)
            {
                f.Buffer = null; // the closing ring may still read it
                EndPair(f);
            }

            f.File = null;
        }

        foreach (IoUringFileSender f in _detachedFiles.Values)
        {
            if (f.Busy)
            {
                f.Buffer = null;
                EndPair(f);
            }

            f.File = null;
        }

        _fileSenders.Clear();
        _detachedFiles.Clear();
    }

    /// <summary>Frees the idle send buffers kept for reuse (the memory hand-back after a burst); buffers in use stay.</summary>
    public void Trim()
    {
        while (_freeBuffers.TryPop(out nint b))
        {
            NativeMemory.Free((void*)b);
        }

        while (_freeSmallBuffers.TryPop(out nint b))
        {
            NativeMemory.Free((void*)b);
        }

        while (_freeLargeBuffers.TryPop(out nint b))
        {
            NativeMemory.Free((void*)b);
        }
    }
}
