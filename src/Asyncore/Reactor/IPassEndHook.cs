namespace Asyncore.Reactor;

/// <summary>
/// Work that waits for the end of the current pass (Redis's <c>beforeSleep</c>): output that
/// channels queued while the pass dispatched leaves in one send per channel when the pass ends.
/// </summary>
internal interface IPassEndHook
{
    /// <summary>The pass has ended: do the deferred work.</summary>
    void AtPassEnd();
}
