namespace Asyncore.Polling;

/// <summary>
/// A readiness backend. The loop owns the semantics (which channels are asked about, in which order
/// callbacks run); a backend owns only the system calls. Every pass the loop calls
/// <see cref="SetInterest"/> once for every channel in the map, then <see cref="Wait"/> once.
/// </summary>
internal interface IPoller : IDisposable
{
    /// <summary>"select", "poll" or "epoll".</summary>
    string Name { get; }

    /// <summary>What the channel wants this pass; <see cref="PollFlags.None"/> means it is not watched at all.</summary>
    void SetInterest(in PollTarget target, PollFlags interest);

    /// <summary>The channel left the map: forget it.</summary>
    void Remove(nint fd);

    /// <summary>Waits up to <paramref name="timeoutMs"/> milliseconds (negative: forever) and writes the ready descriptors.</summary>
    /// <returns>How many events were written into <paramref name="ready"/>.</returns>
    int Wait(int timeoutMs, Span<PollEvent> ready);
}
