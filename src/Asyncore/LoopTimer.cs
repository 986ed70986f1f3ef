namespace Asyncore;

/// <summary>A callback scheduled on a loop with <see cref="SocketMap.CallLater"/>; cancel it with <see cref="Cancel"/>.</summary>
public sealed class LoopTimer
{
    internal LoopTimer(Action callback) => Callback = callback;

    internal Action Callback { get; }

    /// <summary>When it is due, in <see cref="System.Diagnostics.Stopwatch"/> ticks; 0 while not scheduled.</summary>
    internal long DueTicks { get; set; }

    /// <summary>Whether <see cref="Cancel"/> was called.</summary>
    public bool Cancelled { get; private set; }

    /// <summary>Whether it has run.</summary>
    public bool Fired { get; internal set; }

    /// <summary>Stops the callback from running, if it has not run yet. Call it on the loop's thread.</summary>
    public void Cancel() => Cancelled = true;

    /// <summary>Makes a cancelled timer usable again (the library reuses one timer per channel and purpose).</summary>
    internal void Reset()
    {
        Cancelled = false;
        Fired = false;
    }
}
