using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Asyncore.Interop;

namespace Asyncore.Polling;

/// <summary>
/// One io_uring instance: the submission and completion rings mapped into this process, and the
/// three operations a poller needs (take a submission entry, submit-and-wait, read completions).
/// No liburing: the layout is the kernel's (include/uapi/linux/io_uring.h). The kernel advances the
/// submission head and the completion tail, this class the submission tail and the completion head;
/// each side reads the other's index with acquire and publishes its own with release
/// (<see cref="Volatile"/>), as liburing's io_uring_smp_load_acquire / store_release do.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed unsafe class IoUringRing : IDisposable
{
    /// <summary>Setup flags tried in order; a kernel that refuses one set with EINVAL gets the next.</summary>
    private static readonly uint[] FlagChoices =
    [
        Libc.IORING_SETUP_SINGLE_ISSUER | Libc.IORING_SETUP_DEFER_TASKRUN | Libc.IORING_SETUP_SUBMIT_ALL,
        Libc.IORING_SETUP_COOP_TASKRUN | Libc.IORING_SETUP_SUBMIT_ALL,
        0,
    ];

    private readonly int _fd;
    private readonly byte* _sqRing;
    private readonly nuint _sqRingSize;
    private readonly byte* _cqRing;
    private readonly nuint _cqRingSize;
    private readonly Libc.IoUringSqe* _sqes;
    private readonly nuint _sqesSize;
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly uint _sqEntries;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly Libc.IoUringCqe* _cqes;
    private uint _sqLocalTail;
    private uint _unsubmitted;
    private bool _disposed;

    private IoUringRing(int fd, in Libc.IoUringParams p)
    {
        _fd = fd;
        SetupFlags = p.Flags;
        MinTimeout = (p.Features & Libc.IORING_FEAT_MIN_TIMEOUT) != 0;
        _sqRingSize = p.SqOff.Array + p.SqEntries * sizeof(uint);
        _cqRingSize = p.CqOff.Cqes + p.CqEntries * (uint)sizeof(Libc.IoUringCqe);
        bool single = (p.Features & Libc.IORING_FEAT_SINGLE_MMAP) != 0;
        if (single)
        {
            _sqRingSize = _cqRingSize = Math.Max(_sqRingSize, _cqRingSize);
        }

        try
        {
            _sqRing = Map(_sqRingSize, Libc.IORING_OFF_SQ_RING);
            _cqRing = single ? _sqRing : Map(_cqRingSize, Libc.IORING_OFF_CQ_RING);
            _sqesSize = p.SqEntries * (uint)sizeof(Libc.IoUringSqe);
            _sqes = (Libc.IoUringSqe*)Map(_sqesSize, Libc.IORING_OFF_SQES);
        }
        catch
        {
            Unmap();
            Libc.Close(fd);
            throw;
        }

        _sqHead = (uint*)(_sqRing + p.SqOff.Head);
        _sqTail = (uint*)(_sqRing + p.SqOff.Tail);
        _sqMask = *(uint*)(_sqRing + p.SqOff.RingMask);
        _sqEntries = *(uint*)(_sqRing + p.SqOff.RingEntries);
        _cqHead = (uint*)(_cqRing + p.CqOff.Head);
        _cqTail = (uint*)(_cqRing + p.CqOff.Tail);
        _cqMask = *(uint*)(_cqRing + p.CqOff.RingMask);
        _cqes = (Libc.IoUringCqe*)(_cqRing + p.CqOff.Cqes);
        _sqLocalTail = *_sqTail;

        // The indirection array maps ring slots to entries one to one, once: slot i always holds entry i.
        uint* array = (uint*)(_sqRing + p.SqOff.Array);
        for (uint i = 0; i < _sqEntries; i++)
        {
            array[i] = i;
        }

        OwnerThread = Environment.CurrentManagedThreadId;
    }

    /// <summary>The flags the kernel accepted.</summary>
    internal uint SetupFlags { get; }

    /// <summary>The kernel takes a batch wait's minimum timeout (IORING_FEAT_MIN_TIMEOUT, 6.12).</summary>
    internal bool MinTimeout { get; }

    /// <summary>Only the creating thread may submit (IORING_SETUP_SINGLE_ISSUER): others get EEXIST.</summary>
    internal bool SingleIssuer => (SetupFlags & Libc.IORING_SETUP_SINGLE_ISSUER) != 0;

    /// <summary>The managed thread that created the ring.</summary>
    internal int OwnerThread { get; }

    /// <summary>Whether this thread may submit and wait.</summary>
    internal bool UsableHere => !_disposed && (!SingleIssuer || Environment.CurrentManagedThreadId == OwnerThread);

    /// <summary>Whether the ring was closed.</summary>
    internal bool Disposed => _disposed;

    /// <summary>How many times entries were handed to the kernel: an entry taken at one epoch is still editable while the epoch is the same.</summary>
    internal ulong Epoch { get; private set; }

    /// <summary>Entries taken but not handed to the kernel yet.</summary>
    internal uint Unsubmitted => _unsubmitted;

    /// <summary>
    /// Sets up a ring, or says why not: the errno of io_uring_setup (ENOSYS on old kernels, EPERM
    /// under io_uring_disabled or a seccomp filter, ENOMEM over the locked-memory limit), or
    /// ENOSYS for a kernel without the features relied on (no-drop completions, EXT_ARG waits).
    /// </summary>
    internal static IoUringRing? TryCreate(uint sqEntries, uint cqEntries, out int errno)
    {
        if (!Libc.IoUringSupported)
        {
            errno = Libc.ENOSYS;
            return null;
        }

        errno = 0;
        foreach (uint flags in FlagChoices)
        {
            Libc.IoUringParams p = default;
            p.Flags = flags | Libc.IORING_SETUP_CQSIZE;
            p.CqEntries = cqEntries;
            int fd = Libc.IoUringSetup(sqEntries, &p);
            if (fd < 0)
            {
                errno = Marshal.GetLastPInvokeError();
                if (errno == Libc.EINVAL)
                {
                    continue;
                }

                return null;
            }

            const uint needed = Libc.IORING_FEAT_NODROP | Libc.IORING_FEAT_EXT_ARG;
            if ((p.Features & needed) != needed)
            {
                Libc.Close(fd);
                errno = Libc.ENOSYS;
                return null;
            }

            try
            {
                return new IoUringRing(fd, p);
            }
            catch (IOException e)
            {
                errno = e.HResult;
                return null;
            }
        }

        return null;
    }

    /// <summary>
    /// The next submission entry, cleared. A full ring is handed to the kernel first, so this never fails
    /// while the ring is open.
    /// </summary>
    internal ref Libc.IoUringSqe NextSqe()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_sqLocalTail - Volatile.Read(ref *_sqHead) >= _sqEntries)
        {
            Submit();
        }

        ref Libc.IoUringSqe sqe = ref _sqes[_sqLocalTail & _sqMask];
        sqe = default;
        _sqLocalTail++;
        _unsubmitted++;
        return ref sqe;
    }

    /// <summary>Hands the taken entries to the kernel without waiting (and, with deferred task work, runs what completed).</summary>
    internal void Submit() => Enter(0, -1, getEvents: true);

    /// <summary>
    /// Hands the taken entries to the kernel and waits for at least <paramref name="minComplete"/>
    /// completions, at most <paramref name="timeoutMs"/> milliseconds (negative: no limit).
    /// </summary>
    /// <returns>0, or the errno of the wait (ETIME when it timed out, EINTR when a signal cut it).</returns>
    internal int Enter(uint minComplete, int timeoutMs, bool getEvents, uint minWaitUsec = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Volatile.Write(ref *_sqTail, _sqLocalTail);
        uint toSubmit = _unsubmitted;
        Libc.KernelTimespec ts = default;
        Libc.IoUringGeteventsArg arg = default;
        arg.SigmaskSz = 8; // _NSIG / 8; no mask is passed
        arg.MinWaitUsec = MinTimeout ? minWaitUsec : 0;
        if (minComplete > 0 && timeoutMs >= 0)
        {
            ts.TvSec = timeoutMs / 1000;
            ts.TvNsec = (timeoutMs % 1000) * 1_000_000L;
            arg.Ts = (ulong)&ts;
        }

        uint flags = Libc.IORING_ENTER_EXT_ARG | (getEvents || minComplete > 0 ? Libc.IORING_ENTER_GETEVENTS : 0);
        int rc = Libc.IoUringEnter(_fd, toSubmit, minComplete, flags, &arg, sizeof(Libc.IoUringGeteventsArg));
        if (toSubmit > 0)
        {
            Epoch++;
        }

        if (rc >= 0)
        {
            // Whatever the kernel did not take (it stops at a broken entry without SUBMIT_ALL) stays in the ring.
            _unsubmitted = _sqLocalTail - Volatile.Read(ref *_sqHead);
            return 0;
        }

        int errno = Marshal.GetLastPInvokeError();
        _unsubmitted = _sqLocalTail - Volatile.Read(ref *_sqHead);
        return errno;
    }

    /// <summary>io_uring_register on this ring.</summary>
    /// <returns>0, or the errno.</returns>
    internal int Register(uint opcode, void* arg, uint count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Libc.IoUringRegister(_fd, opcode, arg, count) < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>The completion at the head, if any; <see cref="Advance"/> consumes it.</summary>
    internal bool TryPeek(out Libc.IoUringCqe cqe)
    {
        uint head = *_cqHead;
        if (head == Volatile.Read(ref *_cqTail))
        {
            cqe = default;
            return false;
        }

        cqe = _cqes[head & _cqMask];
        return true;
    }

    /// <summary>Whether a completion with this user_data is waiting to be read.</summary>
    internal bool HasCompletionFor(ulong userData)
    {
        uint tail = Volatile.Read(ref *_cqTail);
        for (uint head = *_cqHead; head != tail; head++)
        {
            if (_cqes[head & _cqMask].UserData == userData)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether completions are waiting to be read.</summary>
    internal bool HasCompletions => *_cqHead != Volatile.Read(ref *_cqTail);

    /// <summary>Consumes the completion <see cref="TryPeek"/> returned.</summary>
    internal void Advance() => Volatile.Write(ref *_cqHead, *_cqHead + 1);

    private byte* Map(nuint size, long offset)
    {
        void* p = Libc.Mmap(null, size, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED | Libc.MAP_POPULATE, _fd, offset);
        if (p == (void*)-1)
        {
            throw Errors.IOError(Marshal.GetLastPInvokeError());
        }

        return (byte*)p;
    }

    private void Unmap()
    {
        if (_sqes != null)
        {
            Libc.Munmap(_sqes, _sqesSize);
        }

        if (_cqRing != null && _cqRing != _sqRing)
        {
            Libc.Munmap(_cqRing, _cqRingSize);
        }

        if (_sqRing != null)
        {
            Libc.Munmap(_sqRing, _sqRingSize);
        }
    }

    /// <summary>Closes the ring: the kernel cancels whatever is still in flight and drops the files it held.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Unmap();
        Libc.Close(_fd);
    }
}
