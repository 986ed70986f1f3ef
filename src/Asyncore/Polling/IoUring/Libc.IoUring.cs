using System.Runtime.InteropServices;

namespace Asyncore.Interop;

/// <summary>
/// io_uring(7) through syscall(2): no liburing to ship. Layouts and numbers from the kernel's
/// include/uapi/linux/io_uring.h; the three system calls are 425/426/427 on x86-64 and on arm64
/// (the generic table), the only architectures <see cref="IoUringSupported"/> admits.
/// </summary>
internal static partial class Libc
{
    internal const int SYS_io_uring_setup = 425;
    internal const int SYS_io_uring_enter = 426;
    internal const int SYS_io_uring_register = 427;

    // io_uring_setup flags
    internal const uint IORING_SETUP_CQSIZE = 1u << 3;
    internal const uint IORING_SETUP_SUBMIT_ALL = 1u << 7;
    internal const uint IORING_SETUP_COOP_TASKRUN = 1u << 8;
    internal const uint IORING_SETUP_TASKRUN_FLAG = 1u << 9;
    internal const uint IORING_SETUP_SINGLE_ISSUER = 1u << 12;
    internal const uint IORING_SETUP_DEFER_TASKRUN = 1u << 13;

    // io_uring_params.features
    internal const uint IORING_FEAT_SINGLE_MMAP = 1u << 0;
    internal const uint IORING_FEAT_NODROP = 1u << 1;
    internal const uint IORING_FEAT_EXT_ARG = 1u << 8;
    internal const uint IORING_FEAT_MIN_TIMEOUT = 1u << 15;

    // io_uring_enter flags
    internal const uint IORING_ENTER_GETEVENTS = 1u << 0;
    internal const uint IORING_ENTER_EXT_ARG = 1u << 3;

    // mmap offsets
    internal const long IORING_OFF_SQ_RING = 0;
    internal const long IORING_OFF_CQ_RING = 0x8000000;
    internal const long IORING_OFF_SQES = 0x10000000;

    // opcodes
    internal const byte IORING_OP_POLL_ADD = 6;
    internal const byte IORING_OP_POLL_REMOVE = 7;
    internal const byte IORING_OP_ASYNC_CANCEL = 14;
    internal const byte IORING_OP_SEND = 26;
    internal const byte IORING_OP_RECV = 27;

    // io_uring_register opcodes
    internal const uint IORING_REGISTER_PBUF_RING = 22;

    // sqe.ioprio for RECV
    internal const ushort IORING_RECV_MULTISHOT = 1 << 1;

    // cqe.flags
    internal const uint IORING_CQE_F_BUFFER = 1u << 0;
    internal const uint IORING_CQE_F_MORE = 1u << 1;
    internal const int IORING_CQE_BUFFER_SHIFT = 16;

    // sqe.flags
    internal const byte IOSQE_BUFFER_SELECT = 1 << 5;
    internal const byte IOSQE_CQE_SKIP_SUCCESS = 1 << 6;

    // cancel flags (sqe.cancel_flags)
    internal const uint IORING_ASYNC_CANCEL_ALL = 1u << 0;
    internal const uint IORING_ASYNC_CANCEL_FD = 1u << 1;

    // send(2) flags (Linux)
    internal const uint MSG_DONTWAIT = 0x40;
    internal const uint MSG_WAITALL = 0x100;
    internal const uint MSG_NOSIGNAL = 0x4000;

    internal const int PROT_READ = 0x1;
    internal const int PROT_WRITE = 0x2;
    internal const int MAP_SHARED = 0x01;
    internal const int MAP_PRIVATE = 0x02;
    internal const int MAP_ANONYMOUS = 0x20;
    internal const int MAP_POPULATE = 0x8000;

    internal const int EINVAL = 22;
    internal const int ENOSYS = 38;
    internal const int ETIME = 62;
    internal const int EBUSY = 16;
    internal const int ECANCELED = 125;
    internal const int ENOMEM = 12;
    internal const int ENOBUFS = 105;

    /// <summary>struct io_sqring_offsets.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoSqringOffsets
    {
        internal uint Head;
        internal uint Tail;
        internal uint RingMask;
        internal uint RingEntries;
        internal uint Flags;
        internal uint Dropped;
        internal uint Array;
        internal uint Resv1;
        internal ulong UserAddr;
    }

    /// <summary>struct io_cqring_offsets.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoCqringOffsets
    {
        internal uint Head;
        internal uint Tail;
        internal uint RingMask;
        internal uint RingEntries;
        internal uint Overflow;
        internal uint Cqes;
        internal uint Flags;
        internal uint Resv1;
        internal ulong UserAddr;
    }

    /// <summary>struct io_uring_params (120 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringParams
    {
        internal uint SqEntries;
        internal uint CqEntries;
        internal uint Flags;
        internal uint SqThreadCpu;
        internal uint SqThreadIdle;
        internal uint Features;
        internal uint WqFd;
        internal uint Resv0;
        internal uint Resv1;
        internal uint Resv2;
        internal IoSqringOffsets SqOff;
        internal IoCqringOffsets CqOff;
    }

    /// <summary>struct io_uring_sqe (64 bytes), with the unions named by the members used here.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    internal struct IoUringSqe
    {
        [FieldOffset(0)] internal byte Opcode;
        [FieldOffset(1)] internal byte Flags;
        [FieldOffset(2)] internal ushort IoPrio;
        [FieldOffset(4)] internal int Fd;
        [FieldOffset(8)] internal ulong Off;
        [FieldOffset(16)] internal ulong Addr;
        [FieldOffset(24)] internal uint Len;
        /// <summary>poll32_events, msg_flags, cancel_flags, poll remove flags: one 32-bit union.</summary>
        [FieldOffset(28)] internal uint OpFlags;
        [FieldOffset(32)] internal ulong UserData;
        [FieldOffset(40)] internal ushort BufIndex;
        [FieldOffset(42)] internal ushort Personality;
        [FieldOffset(44)] internal int SpliceFdIn;
        [FieldOffset(48)] internal ulong Addr3;
        [FieldOffset(56)] internal ulong Pad2;
    }

    /// <summary>struct io_uring_cqe (16 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringCqe
    {
        internal ulong UserData;
        internal int Res;
        internal uint Flags;
    }

    /// <summary>struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringGeteventsArg
    {
        internal ulong Sigmask;
        internal uint SigmaskSz;
        internal uint MinWaitUsec;
        internal ulong Ts;
    }

    /// <summary>struct io_uring_buf_reg (IORING_REGISTER_PBUF_RING).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct IoUringBufReg
    {
        internal ulong RingAddr;
        internal uint RingEntries;
        internal ushort Bgid;
        internal ushort Flags;
        internal ulong Resv0;
        internal ulong Resv1;
        internal ulong Resv2;
    }

    /// <summary>struct __kernel_timespec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct KernelTimespec
    {
        internal long TvSec;
        internal long TvNsec;
    }

    /// <summary>Whether the syscall numbers above are this process's: Linux on x86-64 or arm64.</summary>
    internal static bool IoUringSupported =>
        OperatingSystem.IsLinux() &&
        RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    // syscall(2) is variadic; with integer and pointer arguments only, the fixed-argument call is
    // ABI-compatible on the System V x86-64 and AAPCS64 Linux ABIs (as fcntl above).
    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    private static partial nint Syscall6(nint number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

    internal static unsafe int IoUringSetup(uint entries, IoUringParams* p) =>
        (int)Syscall6(SYS_io_uring_setup, (nint)entries, (nint)p, 0, 0, 0, 0);

    internal static unsafe int IoUringEnter(int fd, uint toSubmit, uint minComplete, uint flags, void* arg, nint argSize) =>
        (int)Syscall6(SYS_io_uring_enter, fd, (nint)toSubmit, (nint)minComplete, (nint)flags, (nint)arg, argSize);

    internal static unsafe int IoUringRegister(int fd, uint opcode, void* arg, uint count) =>
        (int)Syscall6(SYS_io_uring_register, fd, (nint)opcode, (nint)arg, (nint)count, 0, 0);

    [LibraryImport(Libraries.Libc, EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(int fd, byte* buf, nuint len, int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "mmap", SetLastError = true)]
    internal static unsafe partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
    internal static unsafe partial int Munmap(void* addr, nuint length);
}
