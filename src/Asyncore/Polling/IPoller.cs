namespace Asyncore.Polling;

/// <summary>
/// A readiness backend. The loop owns the semantics (which channels are asked about, in which order
/// callbacks run) and the interest masks; a backend owns only the system calls (Redis's aeApi*).
/// A backend that keeps its set between waits (<see cref="KeepsInterest"/>: epoll's kernel set, poll(2)'s
/// pollfd array) is told only the masks that changed; select is handed every watched descriptor before each <see cref="Wait"/>.
/// </summary>
internal interface IPoller : IDisposable
{
    /// <summary>"select", "poll", "epoll" or "io_uring".</summary>
    string Name { get; }

    /// <summary>Whether the calling thread may use this backend now (an io_uring made for one issuer thread, or one closed from outside, is not); the loop makes a new one when not.</summary>
    bool UsableHere { get; }

    /// <summary>Whether the backend must hear of every channel that leaves, watched or not (io_uring: its sends and receives are in the kernel).</summary>
    bool HearsEveryRemoval => false;

    /// <summary>Whether only the thread that made the backend may use it (io_uring's single issuer).</summary>
    bool ThreadBound => false;

    /// <summary>Whether the backend remembers interest between waits (epoll, poll), or must be handed every watched descriptor before each wait (select).</summary>
    bool KeepsInterest { get; }

    /// <summary>What the channel wants now; <see cref="PollFlags.None"/> means it is not watched at all.</summary>
    void SetInterest(in PollTarget target, PollFlags interest);

    /// <summary>The descriptor's row left the table (its channel left the map): tell the kernel, and forget it.</summary>
    void Remove(Reactor.Registration row);

    /// <summary>Gives the backend the loop's table, for backends whose completions name a descriptor (io_uring).</summary>
    /// <param name="rowOf">The row of a descriptor now, or null.</param>
    void Attach(Func<nint, Reactor.Registration?> rowOf)
    {
    }

    /// <summary>Shrinks buffers grown for a larger set than the backend watches now (a loop handing memory back after a burst).</summary>
    void Trim()
    {
    }

    /// <summary>Makes the transport a channel's bytes go through on this backend (the socket's own, or the ring's).</summary>
    Transport.ChannelTransport TransportFor(Dispatcher channel);

    /// <summary>Waits up to <paramref name="timeoutMs"/> milliseconds (negative: forever) and writes the ready descriptors.</summary>
    /// <returns>How many events were written into <paramref name="ready"/>.</returns>
    int Wait(int timeoutMs, Span<PollEvent> ready);
}
