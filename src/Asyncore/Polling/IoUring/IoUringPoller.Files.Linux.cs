namespace Asyncore.Polling;

/// <content>File regions on the ring's channels: sent with sendfile(2) once none of the channel's bytes are in the ring (see docs/design.md, "File regions on io_uring").</content>
internal sealed unsafe partial class IoUringPoller
{
    /// <summary>
    /// Makes sure none of the channel's bytes are in the ring before a system call sends on its socket:
    /// a SEND the kernel has not seen yet is taken back (its entry becomes a no-op) and its bytes are
    /// sent with send(2) now; a SEND in the kernel is waited for.
    /// </summary>
    /// <returns>True when nothing of the channel's is in the ring; false when the caller waits for the SEND's completion (a write event).</returns>
    internal bool SendUnsubmittedNow(IoUringSender s)
    {
        if (!s.InFlight)
        {
            return true;
        }

        s.Notify = true;
        if (s.SqeEpoch != _ring.Epoch)
        {
            return false;
        }

        TakeBackUnsubmitted(s);
        PlainSend(s);
        if (s.Start < s.End)
        {
            QueueSend(s); // the socket is full: the rest through the ring, before the file's bytes
            return false;
        }

        s.Notify = false;
        FreeHeld(s);
        return true;
    }
}
