namespace Asyncore.Tests.Support;

/// <summary>Runs a map's loop on a thread of its own until disposed; builds the channels on that thread.</summary>
internal sealed class LoopThread : IDisposable
{
    private readonly Thread _thread;
    private volatile bool _stop;
    private Exception? _error;

    public LoopThread(Action<SocketMap> setup, PollerKind kind = PollerKind.Default)
    {
        Map = new SocketMap();
        using var ready = new ManualResetEventSlim();
        Exception? setupError = null;
        _thread = new Thread(() =>
        {
            try
            {
                setup(Map);
            }
            catch (Exception e)
            {
                setupError = e;
                ready.Set();
                return;
            }

            ready.Set();
            try
            {
                while (!_stop)
                {
                    EventLoop.Loop(kind, timeout: 0.05, map: Map, count: 1);
                }
            }
            catch (Exception e)
            {
                _error = e;
            }
            finally
            {
                EventLoop.CloseAll(Map, ignoreAll: true);
                Map.Dispose();
            }
        })
        { IsBackground = true, Name = "asyncore loop" };
        _thread.Start();
        ready.Wait();
        if (setupError is not null)
        {
            throw new InvalidOperationException("setup failed", setupError);
        }
    }

    public SocketMap Map { get; }

    /// <summary>Runs <paramref name="read"/> on the loop's thread (where the map's channels live) and returns its answer.</summary>
    public T OnLoop<T>(Func<T> read)
    {
        var answer = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Map.Post(() =>
        {
            try
            {
                answer.SetResult(read());
            }
            catch (Exception e)
            {
                answer.SetException(e);
            }
        });
        Assert.True(answer.Task.Wait(TimeSpan.FromSeconds(10)), "the loop did not run the posted read");
        return answer.Task.Result;
    }

    public void Dispose()
    {
        _stop = true;
        Assert.True(_thread.Join(TimeSpan.FromSeconds(10)), "loop did not stop");
        Assert.Null(_error);
    }
}
