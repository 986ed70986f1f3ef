using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// Readiness through io_uring(7): one one-shot IORING_OP_POLL_ADD per watched descriptor, re-armed
/// at the next wait after it fired while interest remains, so a descriptor still ready fires again at
/// once: asyncore's level-triggered semantics, as with epoll. A wait is one io_uring_enter that
/// submits every queued entry (re-arms, removals) and waits for a completion with a timeout
/// (IORING_ENTER_EXT_ARG). Each arm carries a fresh generation in its user_data next to the
/// descriptor, so a completion for a poll that was removed, replaced, or armed for a descriptor
/// since closed and reused is recognised and dropped.
/// </summary>
/// <remarks>
/// An armed poll holds a reference to its file: a socket closed while it is armed would stay open
/// (the peer would see no end of stream) until the poll is cancelled. So <see cref="Remove"/> hands
/// its IORING_OP_POLL_REMOVE to the kernel at once, before the channel closes its socket. With
/// IORING_SETUP_SINGLE_ISSUER only the thread that made the ring may do that. The map is bound to
/// that thread (ReactorCore refuses a pass from another one, and a removal from another thread
/// while the loop runs); a removal from another thread while the loop is stopped closes the whole
/// ring, which cancels everything, and the map cannot run again.
/// </remarks>
[SupportedOSPlatform("linux")]
internal sealed unsafe partial class IoUringPoller : IPoller
{
    /// <summary>user_data of entries whose completions mean nothing (removals, cancellations).</summary>
    private const ulong Ignored = ulong.MaxValue;

    /// <summary>The top bit of a generation marks a send's user_data; poll generations never have it.</summary>
    private const uint SendBit = 0x8000_0000;

    /// <summary>Tests: the errno io_uring_setup is made to fail with on this thread (0: the real call).</summary>
    [ThreadStatic]
    internal static int t_refuseSetup;

    private IoUringRing _ring;
    private readonly List<Reactor.Registration> _toArm = new();
    private Func<nint, Reactor.Registration?> _rowOf = static _ => null;
    private uint _generation;

    private IoUringPoller(IoUringRing ring)
    {
        _ring = ring;
        _buffers = RegisterSmallBuffers();
    }

    /// <summary>Makes a poller, or says why io_uring cannot be used here (the errno of io_uring_setup or the mapping).</summary>
    internal static IoUringPoller? TryCreate(out int errno)
    {
        if (t_refuseSetup != 0)
        {
            errno = t_refuseSetup;
            return null;
        }

        IoUringRing? ring = IoUringRing.TryCreate(sqEntries: 256, cqEntries: 4096, out errno);
        return ring is null ? null : new IoUringPoller(ring);
    }

    public string Name => "io_uring";

    /// <summary>The loop's table: a completion names a descriptor, and its row says what the ring has armed for it.</summary>
    public void Attach(Func<nint, Reactor.Registration?> rowOf) => _rowOf = rowOf;

    /// <summary>The row of a descriptor the ring watches now, or null.</summary>
    private Reactor.Registration? Watched(nint fd) => _rowOf(fd) is { KernelKnows: true } row ? row : null;

    public bool KeepsInterest => true;

    public bool UsableHere => _ring.UsableHere;

    public bool HearsEveryRemoval => true;

    public bool ThreadBound => true;

    /// <summary>A transport of the channel's own, with the ring's receiver and sender for it.</summary>
    public Transport.ChannelTransport TransportFor(Dispatcher channel) => new RingTransport(this);

    /// <summary>The setup flags the kernel accepted (tests and diagnostics).</summary>
    internal uint SetupFlags => _ring.SetupFlags;

    public void SetInterest(in PollTarget target, PollFlags interest)
    {
        if (_ring.Disposed)
        {
            return; // closed by a removal from another thread; the map cannot run again (ReactorCore says why)
        }

        Reactor.Registration w = target.Row;
        bool reads = target.OwnReads && (interest & PollFlags.In) != 0 && RingReads;
        bool known = w.KernelKnows;
        if (known && !ReferenceEquals(w.KernelOwner, target.Owner))
        {
            // The number was closed and reused without passing through Remove: the old poll goes.
            Disarm(w);
            w.KernelOwner = target.Owner;
            w.KernelMask = PollFlags.None;
            w.RingOwnReads = false;
        }

        if (interest == PollFlags.None)
        {
            if (known)
            {
                Disarm(w);
                w.KernelKnows = false;
                w.KernelMask = PollFlags.None;
            }

            SetWant(target.Fd, target.Owner, want: false);
            return;
        }

        if (!known)
        {
            w.KernelKnows = true;
            w.KernelMask = interest;
            w.KernelOwner = target.Owner;
            w.RingOwnReads = reads;
            w.RingArmed = false;
            w.RingQueuedToArm = false;
            QueueArm(w);
            SetWant(target.Fd, target.Owner, reads, target.ReadSize);
            return;
        }

        if (w.KernelMask == interest && w.RingOwnReads == reads)
        {
            return;
        }

        PollFlags before = w.RingPollMask;
        w.KernelMask = interest;
        w.RingOwnReads = reads;
        if (w.RingPollMask != before || !w.RingArmed)
        {
            Disarm(w);
            QueueArm(w);
        }

        SetWant(target.Fd, target.Owner, reads, target.ReadSize);
    }

    public void Remove(Reactor.Registration w)
    {
        nint fd = w.Fd;
        bool armed = w.KernelKnows && w.RingArmed;
        bool wasWatched = w.KernelKnows;
        w.KernelKnows = false;
        w.KernelMask = PollFlags.None;
        _senders.Remove(fd, out IoUringSender? sender);
        _receivers.Remove(fd, out IoUringReceiver? receiver);
        if (!_ring.UsableHere)
        {
            if (receiver is not null)
            {
                receiver.Detached = true;
                armed |= receiver.Armed;
            }
        }
        else if (receiver is not null)
        {
            armed |= DetachReceiver(receiver);
        }

        if (!armed && sender is null)
        {
            return;
        }

        if (!_ring.UsableHere)
        {
            // Only the ring's own thread may submit (or the ring is closed already). A send the kernel has
            // not seen yet goes out as a plain send now, in order; then the ring is closed, which cancels
            // every poll (and drops the files they hold). The map cannot run again (ReactorCore says why).
            if (sender is not null)
            {
                SendUnsubmittedPlainly(sender, _ring.Epoch);
            }

            _ring.Dispose();
            return;
        }

        if (!armed && sender is not { InFlight: true })
        {
            if (sender is not null)
            {
                Forget(sender);
            }

            return;
        }

        if (wasWatched && w.RingArmed)
        {
            Disarm(w);
        }

        // Now, before the channel closes its socket: a poll still armed would keep the socket open, and a
        // send not handed to the kernel yet would name a descriptor number that may be reused.
        _ring.Submit();
        if (sender is { InFlight: true })
        {
            DetachInFlight(sender);
        }
        else if (sender is not null)
        {
            Forget(sender);
        }
    }

    /// <summary>
    /// How long a wait that submits sends nobody waits for gives the kernel to bring one more
    /// completion besides theirs, before a send's completion alone ends it (IORING_FEAT_MIN_TIMEOUT):
    /// a request answered costs one system call, and a send stuck in a full socket delays other events
    /// by at most this.
    /// </summary>
    private const uint SilentSendWaitUsec = 1000;

    /// <summary>Whether the completion queue holds entries no wait has taken yet (a wait stops when its event buffer is full).</summary>
    internal bool CompletionsUntaken => _ring.TryPeek(out _);

    public int Wait(int timeoutMs, Span<PollEvent> ready)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        while (true)
        {
            _waitCount++;
            ArmQueued();
            ArmQueuedRecvs();
            int written = Reap(ready);
            written += ReportInput(ready[written..]);
            int remaining = timeoutMs < 0 ? -1 : Math.Max(0, timeoutMs - (int)System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            bool look = written > 0 || remaining == 0;

            // A send's completion is a completion too: counted, so that it alone does not end the wait.
            uint silent = _ring.MinTimeout ? SilentSendsToSubmit : 0;
            uint min = look ? 0u : 1u + silent;
            int errno = _ring.Enter(min, remaining, getEvents: true, silent > 0 ? SilentSendWaitUsec : 0);
            if (errno is not (0 or Libc.ETIME or Libc.EBUSY or Libc.EINTR) && errno != Libc.EAGAIN)
            {
                throw Errors.IOError(errno);
            }

            written += Reap(ready[written..]);
            written += ReportInput(ready[written..]);
            if (written > 0 || look || errno == Libc.ETIME)
            {
                return written;
            }

            // Woken by completions that ask nothing of the channels (a send nobody waits for, a poll
            // removed since): wait on for the rest of the time instead of making an empty pass.
        }
    }

    /// <summary>Reads completions into <paramref name="ready"/> until either runs out.</summary>
    private int Reap(Span<PollEvent> ready)
    {
        int written = 0;
        while (written < ready.Length && _ring.TryPeek(out Libc.IoUringCqe cqe))
        {
            _ring.Advance();
            if (cqe.UserData == Ignored)
            {
                continue;
            }

            nint fd = (int)(uint)cqe.UserData;
            uint generation = (uint)(cqe.UserData >> 32);
            if ((generation & RecvBit) != 0 && (generation & SendBit) == 0)
            {
                RecvCompleted(cqe, fd, generation);
                continue;
            }

            if ((generation & SendBit) != 0)
            {
                if (SendCompleted(cqe, fd, generation) is { } flags2 && flags2 != PollFlags.None)
                {
                    ready[written++] = new PollEvent(fd, flags2);
                }

                continue;
            }

            Reactor.Registration? w = Watched(fd);
            if (w is null || !w.RingArmed || w.RingGeneration != generation)
            {
                continue; // removed, replaced, or re-armed since
            }

            w.RingArmed = false;
            QueueArm(w);
            PollFlags flags = cqe.Res >= 0
                ? (PollFlags)(cqe.Res & 0x3F)
                : -cqe.Res == Libc.EBADF ? PollFlags.Nval
                : -cqe.Res == Libc.ECANCELED ? PollFlags.None
                : PollFlags.Err;
            if (flags != PollFlags.None)
            {
                if ((w.KernelMask & PollFlags.In) != 0 && _receivers.TryGetValue(fd, out IoUringReceiver? r) && !r.Detached && ReferenceEquals(r.Owner, w.KernelOwner) && r.HasInput
                    && r.ReportedWait != _waitCount)
                {
                    // One event for the descriptor: its queued input is read before a hang-up closes it. Not when
                    // this wait said readable already (ReportInput before a poll completed): a second read in the
                    // same pass would take a queued end of stream twice, and the second one closes a channel that
                    // deferred its close to send what it still has queued (half-close).
                    flags |= PollFlags.In;
                    r.ReportedWait = _waitCount;
                }

                ready[written++] = new PollEvent(fd, flags);
            }
        }

        return written;
    }

    private void QueueArm(Reactor.Registration w)
    {
        if (!w.RingQueuedToArm)
        {
            w.RingQueuedToArm = true;
            _toArm.Add(w);
        }
    }

    /// <summary>Takes a POLL_ADD for every queued descriptor that is still watched and not armed.</summary>
    private void ArmQueued()
    {
        foreach (Reactor.Registration w in _toArm)
        {
            w.RingQueuedToArm = false;
            if (!w.KernelKnows || w.RingArmed || w.RingPollMask == PollFlags.None)
            {
                continue; // left the table, or removed, since it was queued
            }

            uint generation = NextGeneration();
            ref Libc.IoUringSqe sqe = ref _ring.NextSqe();
            sqe.Opcode = Libc.IORING_OP_POLL_ADD;
            sqe.Fd = (int)w.Fd;
            sqe.OpFlags = (uint)(ushort)w.RingPollMask; // poll32_events; the kernel adds POLLERR and POLLHUP
            sqe.UserData = IoUringOperand.UserDataOf(w.Fd, generation);
            w.RingArmed = true;
            w.RingGeneration = generation;
        }

        _toArm.Clear();
    }

    /// <summary>Takes a POLL_REMOVE for the armed poll, if any; its late completion is dropped by generation.</summary>
    private void Disarm(Reactor.Registration w)
    {
        if (!w.RingArmed)
        {
            return;
        }

        w.RingArmed = false;
        ref Libc.IoUringSqe sqe = ref _ring.NextSqe();
        sqe.Opcode = Libc.IORING_OP_POLL_REMOVE;
        sqe.Fd = -1;
        sqe.Addr = IoUringOperand.UserDataOf(w.Fd, w.RingGeneration); // the poll to remove, by its user_data
        sqe.UserData = Ignored;
    }

    /// <summary>A fresh generation, never 0 and never with <see cref="SendBit"/> or <see cref="RecvBit"/>.</summary>
    private uint NextGeneration()
    {
        _generation = (_generation + 1) & ~(SendBit | RecvBit | LargeRecvBit);
        if (_generation == 0)
        {
            _generation = 1;
        }

        return _generation;
    }

    public void Dispose()
    {
        ProvidedBuffers? buffers = _buffers;
        ProvidedBuffers? large = _largeBuffers;
        bool quiet = EndReceives();
        CarryOverReceives();
        ulong epoch = _ring.Epoch;
        bool disposed = _ring.Disposed;
        _ring.Dispose();
        DisposeSends(epoch, disposed);
        if (quiet)
        {
            FreeBuffers(buffers); // no receive can pick a buffer any more
            FreeBuffers(large);
        }
    }
}
