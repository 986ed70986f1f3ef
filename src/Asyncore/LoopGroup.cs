using System.Runtime.InteropServices;
using Asyncore.Interop;

namespace Asyncore;

/// <summary>
/// N loops on N threads, each with a <see cref="SocketMap"/> of its own: the loop-per-core shape of
/// nginx's workers and Netty's event-loop group. Each loop's setup callback creates that loop's
/// channels, typically a listener bound with <see cref="Dispatcher.SetReusePort()"/> to the same port
/// as the others', so the kernel spreads new connections over the loops. Channels never cross
/// loops: each stays on the map it was created in; work for another loop goes through that loop's
/// <see cref="SocketMap.Post"/> (see <see cref="Maps"/>).
/// </summary>
public sealed class LoopGroup : IDisposable
{
    private readonly Action<SocketMap, int> _setup;
    private readonly PollerKind _backend;
    private readonly bool _pin;
    private readonly SocketMap[] _maps;
    private readonly Thread?[] _threads;
    private readonly TaskCompletionSource<bool>[] _ended;
    private readonly List<Exception> _failures = new();
    private volatile bool _stopping;
    private bool _started;
    private bool _disposed;

    /// <summary>Creates the group; nothing runs until <see cref="Start"/>.</summary>
    /// <param name="count">How many loops (and threads); <see cref="Environment.ProcessorCount"/> is the usual choice.</param>
    /// <param name="setup">
    /// Runs on each loop's thread before its loop starts, with the loop's map and index (0 to
    /// count - 1), in index order, one at a time (so loop 0 may bind port 0 and the others the port
    /// it got). Create the loop's listener here.
    /// </param>
    /// <param name="backend">The backend every loop uses.</param>
    /// <param name="pinToCpus">On Linux, pins loop i's thread to the i-th CPU the process may run on (modulo their number); ignored elsewhere.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not positive.</exception>
    public LoopGroup(int count, Action<SocketMap, int> setup, PollerKind backend = PollerKind.Default, bool pinToCpus = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentNullException.ThrowIfNull(setup);
        _setup = setup;
        _backend = Polling.PollerFactory.Resolve(backend);
        _pin = pinToCpus;
        _maps = new SocketMap[count];
        for (int i = 0; i < count; i++)
        {
            _maps[i] = new SocketMap();
        }

        _threads = new Thread?[count];
        _ended = new TaskCompletionSource<bool>[count];
        for (int i = 0; i < count; i++)
        {
            // Completed until the loop starts, and again when it ends: a drain of it then has nothing to do.
            _ended[i] = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            _ended[i].SetResult(true);
        }
    }

    /// <summary>How many loops the group has.</summary>
    public int Count => _maps.Length;

    /// <summary>Each loop's map, by index: post work to another loop with <c>Maps[i].Post(...)</c>.</summary>
    public IReadOnlyList<SocketMap> Maps => _maps;

    /// <summary>Whether the loops' threads are running (between <see cref="Start"/> and the end of <see cref="Stop"/>).</summary>
    public bool Running => _threads.Any(t => t is { IsAlive: true });

    /// <summary>
    /// Starts every loop: each thread runs its setup (in index order, one at a time), then its loop
    /// until <see cref="Stop"/>. Returns once every setup has run.
    /// </summary>
    /// <exception cref="InvalidOperationException">The group was started before, or a setup threw (the loops started so far are stopped; the setup's exception is the inner one).</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_started)
        {
            throw new InvalidOperationException("the loop group was already started");
        }

        _started = true;
        for (int i = 0; i < _maps.Length; i++)
        {
            Exception? setupError = null;
            using var ready = new ManualResetEventSlim();
            int index = i;
            _ended[i] = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            var thread = new Thread(() => Run(index, ready, e => setupError = e))
            {
                IsBackground = true,
                Name = $"Asyncore loop {i}",
            };
            _threads[i] = thread;
            thread.Start();
            ready.Wait();
            if (setupError is not null)
            {
                StopLoops();
                throw new InvalidOperationException($"setup of loop {index} failed", setupError);
            }
        }
    }

    private void Run(int index, ManualResetEventSlim ready, Action<Exception> setupFailed)
    {
        SocketMap map = _maps[index];
        try
        {
            if (_pin)
            {
                PinToCpu(index);
            }

            _setup(map, index);
        }
        catch (Exception e)
        {
            setupFailed(e);
            ready.Set();
            EventLoop.CloseAll(map, ignoreAll: true);
            _ended[index].TrySetResult(true);
            return;
        }

        ready.Set();
        bool entered = false;
        try
        {
            entered = map.Reactor.EnterRunning();
            while (!_stopping)
            {
                EventLoop.PollOnce(map, _backend, 30.0, evenIfEmpty: true);
            }
        }
        catch (ExitNowException)
        {
        }
        catch (Exception e)
        {
            lock (_failures)
            {
                _failures.Add(e);
            }
        }
        finally
        {
            EventLoop.CloseAll(map, ignoreAll: true);
            if (entered)
            {
                map.Reactor.LeaveRunning();
            }

            _ended[index].TrySetResult(true);
        }
    }

    /// <summary>
    /// Drains every loop gracefully (see <see cref="SocketMap.BeginDrain"/>): listeners take no new
    /// connections, accept their backlog and close, channels finish and close, stragglers close at
    /// the deadline. The loops keep running; call <see cref="Stop"/> after.
    /// </summary>
    /// <param name="deadline">How long channels may take to finish.</param>
    /// <returns>A task that completes when every loop's map is empty: true when no loop needed the deadline. A loop that never started or has ended (a callback threw <see cref="ExitNowException"/>) has nothing to drain.</returns>
    public async Task<bool> DrainAsync(TimeSpan deadline)
    {
        var drains = new Task<bool>[_maps.Length];
        for (int i = 0; i < _maps.Length; i++)
        {
            SocketMap map = _maps[i];
            if (_ended[i].Task.IsCompleted)
            {
                drains[i] = Task.FromResult(true); // never started, or ended: its map was closed and is empty
                continue;
            }

            var begun = new TaskCompletionSource<Task<bool>>(TaskCreationOptions.RunContinuationsAsynchronously);
            map.Post(() => begun.TrySetResult(map.BeginDrain(deadline)));
            // A loop that ends before it runs the post (ExitNow from a callback, Stop) has nothing left to drain.
            drains[i] = Task.WhenAny(begun.Task.Unwrap(), _ended[i].Task).Unwrap();
        }

        bool[] results = await Task.WhenAll(drains).ConfigureAwait(false);
        return results.All(r => r);
    }

    /// <summary>
    /// Stops every loop (each wakes at once), waits for the threads to end, and closes the channels
    /// left in the maps. Safe to call more than once.
    /// </summary>
    /// <exception cref="TimeoutException">A loop did not stop within 10 seconds (a callback is blocking its thread).</exception>
    /// <exception cref="AggregateException">A loop ended with an exception from its callbacks.</exception>
    public void Stop()
    {
        StopLoops();
        lock (_failures)
        {
            if (_failures.Count > 0)
            {
                var failures = new AggregateException("a loop of the group failed", _failures);
                _failures.Clear();
                throw failures;
            }
        }
    }

    private void StopLoops()
    {
        _stopping = true;
        foreach (SocketMap map in _maps)
        {
            map.Post(static () => { }); // wakes the loop so it sees _stopping
        }

        foreach (Thread? thread in _threads)
        {
            if (thread is not null && thread.IsAlive && thread != Thread.CurrentThread && !thread.Join(TimeSpan.FromSeconds(10)))
            {
                throw new TimeoutException($"{thread.Name} did not stop");
            }
        }
    }

    /// <summary>Stops the loops (see <see cref="Stop"/>) and releases the maps' kernel resources.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            Stop();
        }
        finally
        {
            foreach (SocketMap map in _maps)
            {
                map.Dispose();
            }
        }
    }

    /// <summary>Linux: pins the calling thread to the index-th CPU of the process's allowed set.</summary>
    private static unsafe void PinToCpu(int index)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        const int bytes = 128; // 1024 CPUs, glibc's cpu_set_t
        byte* mask = stackalloc byte[bytes];
        if (Libc.SchedGetAffinity(0, bytes, mask) != 0)
        {
            return;
        }

        var allowed = new List<int>();
        for (int cpu = 0; cpu < bytes * 8; cpu++)
        {
            if ((mask[cpu / 8] & (1 << (cpu % 8))) != 0)
            {
                allowed.Add(cpu);
            }
        }

        if (allowed.Count == 0)
        {
            return;
        }

        int chosen = allowed[index % allowed.Count];
        new Span<byte>(mask, bytes).Clear();
        mask[chosen / 8] = (byte)(1 << (chosen % 8));
        if (Libc.SchedSetAffinity(0, bytes, mask) != 0)
        {
            throw new InvalidOperationException($"sched_setaffinity to CPU {chosen} failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }
}
