using Asyncore.Polling;

namespace Asyncore.Reactor;

/// <content>Memory handed back after a burst: the loop's own buffers trimmed, then the runtime asked (<see cref="IdleMemoryReturn"/>).</content>
internal sealed partial class ReactorCore
{
    private IdleMemoryReturn? _memoryReturn;

    /// <summary>The loop's hand-back after a burst (made at the first pass's end).</summary>
    internal IdleMemoryReturn MemoryReturn => _memoryReturn ??= new IdleMemoryReturn(() => _map.MemoryReturn, static () => GC.GetTotalMemory(false), TrimBuffers, () => _map.Logger);

    /// <summary>The end of a pass: the hand-back counts its events and, once a second, looks at the heap.</summary>
    private void MemoryAfterPass(int events)
    {
        try
        {
            MemoryReturn.AfterPass(_passNow, events, _table.Count);
        }
        catch (Exception e)
        {
            LogLoopError(e, "the memory hand-back");
        }
    }

    /// <summary>
    /// Shrinks what the loop grew for a burst and no longer needs: the event buffers (the core's and
    /// the backend's) sized for the largest map seen, the descriptor table's buckets, the lists of
    /// changed and always-asked rows, the end-of-pass hook lists, and the output segments cached on
    /// this thread. Rows and per-channel buffers leave with their channels already.
    /// </summary>
    internal void TrimBuffers()
    {
        int want = Math.Max(16, (_table.Count + 1) * 3);
        if (_events.Length > 2 * want)
        {
            _events = new PollEvent[want];
        }

        if (_askSnapshot.Length > Math.Max(16, 2 * _askEveryPass.Count))
        {
            _askSnapshot = new Registration[Math.Max(16, _askEveryPass.Count)];
        }

        _table.TrimExcess();
        _askEveryPass.TrimExcess();
        _changed.TrimExcess();
        _changedSpare.TrimExcess();
        _closedElsewhere.TrimExcess();
        if (_passEnd.Count == 0 && _passEndSpare.Count == 0)
        {
            _passEnd = new HookList();
            _passEndSpare = new HookList();
        }

        _poller?.Trim();
        Output.SegmentBuffer.TrimThreadCache();
    }
}
