using Asyncore.Polling;

namespace Asyncore.Reactor;

/// <summary>
/// One row of the loop's descriptor table: which channel a descriptor belongs to now and what the
/// backend watches it for (Redis's <c>aeFileEvent</c> mask). A row is made when a channel joins a map
/// and dropped when it leaves; a descriptor number reused by a new channel gets a new row, so an
/// event waited for on the old one never reaches the new one.
/// </summary>
internal sealed class Registration
{
    internal Registration(ReactorCore reactor, nint fd, Dispatcher channel, bool askEveryPass)
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
}
