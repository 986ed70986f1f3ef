using Asyncore.Polling;

namespace Asyncore.Reactor;

/// <summary>
/// One row of the loop's descriptor table: which channel a descriptor belongs to now and what the
/// backend watches it for (Redis's <c>aeFileEvent</c> mask). A row is made when a channel joins a map
/// and dropped when it leaves; a descriptor number reused by a new channel gets a new row, so an
/// event waited for on the old one never reaches the new one.
/// The row is the loop's only descriptor table: a backend keeps what it told the kernel about the
/// descriptor here (the <c>Kernel*</c> and <c>Ring*</c> fields), not in a table of its own, as
/// Redis's <c>ae_epoll.c</c> reads the loop's <c>aeFileEvent</c> array.
/// </summary>
internal sealed class Registration
{
    internal Registration(ReactorCore reactor, nint fd, Dispatcher? channel, bool askEveryPass)
    {
        Reactor = reactor;
        Fd = fd;
        Channel = channel;
        AskEveryPass = askEveryPass;
    }

    internal readonly ReactorCore Reactor;

    /// <summary>The descriptor (the map key).</summary>
    internal readonly nint Fd;

    /// <summary>
    /// Whether the channel's Readable()/Writable() are its own, so they are asked on every pass as
    /// CPython does; channels with the library's predicates are asked only after <see cref="Dispatcher.InterestChanged"/>.
    /// </summary>
    internal readonly bool AskEveryPass;

    /// <summary>The channel; null once it has left the map (a row still on the changed list then holds nothing).</summary>
    internal Dispatcher? Channel;

    /// <summary>What the backend watches the descriptor for now.</summary>
    internal PollFlags Mask;

    /// <summary>The mask was in force for a wait: events for the descriptor may be delivered to the channel.</summary>
    internal bool Armed;

    /// <summary>On the changed list, to be asked on the next pass.</summary>
    internal bool Changed;

    /// <summary>The pass in which the predicates were last asked (they are asked at most once a pass).</summary>
    internal long AskedPass;

    /// <summary>Where the row sits in the ask-every-pass list, -1 when it is not there.</summary>
    internal int AskIndex = -1;

    // ---- what the backend told the kernel (one backend at a time; cleared when the map gets a new one) ----

    /// <summary>Whether the backend has the descriptor (epoll: in the set; poll(2): a pollfd slot; io_uring: watched).</summary>
    internal bool KernelKnows;

    /// <summary>The mask the backend last gave the kernel.</summary>
    internal PollFlags KernelMask;

    /// <summary>What owned the descriptor when the backend last told the kernel: another owner under the same number means it was closed and reused.</summary>
    internal object? KernelOwner;

    /// <summary>epoll: the kernel refused the descriptor (a regular file: EPERM), so it is reported always ready.</summary>
    internal bool AlwaysReady;

    /// <summary>poll(2): the descriptor's slot in the pollfd array, -1 when none.</summary>
    internal int Slot = -1;

    /// <summary>io_uring: a POLL_ADD is in the kernel for it.</summary>
    internal bool RingArmed;

    /// <summary>io_uring: on the list of descriptors to arm at the next wait.</summary>
    internal bool RingQueuedToArm;

    /// <summary>io_uring: the generation in the armed poll's user_data.</summary>
    internal uint RingGeneration;

    /// <summary>io_uring: its reads go through the channel's multishot receive; the poll covers the rest of the mask.</summary>
    internal bool RingOwnReads;

    /// <summary>io_uring: the mask the poll watches (reads left to the receive when it has them).</summary>
    internal PollFlags RingPollMask => RingOwnReads ? KernelMask & ~PollFlags.In : KernelMask;

    /// <summary>A new backend knows nothing of the descriptor yet.</summary>
    internal void ResetKernelState()
    {
        KernelKnows = false;
        KernelMask = PollFlags.None;
        KernelOwner = null;
        AlwaysReady = false;
        Slot = -1;
        RingArmed = false;
        RingQueuedToArm = false;
        RingGeneration = 0;
        RingOwnReads = false;
    }
}
