using Asyncore.Polling;

namespace Asyncore.Reactor;

/// <summary>
/// Readiness → callbacks, with asyncore's error rules: <see cref="ExitNowException"/> passes
/// through, a "peer went away" error closes the channel (poll flavour), anything else goes to the
/// channel's <see cref="Dispatcher.HandleError(Exception)"/>. If HandleError itself throws, the
/// channel is logged and closed, so one channel's fault never ends the loop.
/// </summary>
internal static class EventDispatch
{
    /// <summary>asyncore.read</summary>
    internal static void Read(Dispatcher obj)
    {
        try
        {
            obj.HandleReadEvent();
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            Fail(obj, e);
        }
        finally
        {
            obj.InterestChanged();
        }
    }

    /// <summary>asyncore.write</summary>
    internal static void Write(Dispatcher obj)
    {
        try
        {
            obj.HandleWriteEvent();
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            Fail(obj, e);
        }
        finally
        {
            obj.InterestChanged();
        }
    }

    /// <summary>asyncore._exception</summary>
    internal static void Exception(Dispatcher obj)
    {
        try
        {
            obj.HandleExptEvent();
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            Fail(obj, e);
        }
        finally
        {
            obj.InterestChanged();
        }
    }

    /// <summary>
    /// asyncore.readwrite: IN → read, OUT → write, PRI → priority data, HUP / ERR / NVAL → close,
    /// in that order, stopping once a callback has closed the channel.
    /// </summary>
    internal static void ReadWrite(Dispatcher obj, PollFlags flags)
    {
        int closes = obj.CloseCount;
        try
        {
            if ((flags & PollFlags.In) != 0)
            {
                obj.HandleReadEvent();
            }

            if ((flags & PollFlags.Out) != 0 && obj.CloseCount == closes)
            {
                obj.HandleWriteEvent();
            }

            if ((flags & PollFlags.Pri) != 0 && obj.CloseCount == closes)
            {
                obj.HandleExptEvent();
            }

            if ((flags & (PollFlags.Hup | PollFlags.Err | PollFlags.Nval)) != 0 && obj.CloseCount == closes)
            {
                obj.NotifyClose();
            }
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e) when (Errors.IsDisconnect(e))
        {
            Close(obj, e);
        }
        catch (Exception e)
        {
            Fail(obj, e);
        }
        finally
        {
            obj.InterestChanged();
        }
    }

    /// <summary>Asks a channel a predicate; a throw is the channel's fault, not the loop's.</summary>
    internal static bool Ask(Dispatcher obj, bool writable)
    {
        try
        {
            return writable ? obj.Writable() : obj.Readable();
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            Fail(obj, e);
            return false;
        }
    }

    private static void Close(Dispatcher obj, Exception cause)
    {
        try
        {
            obj.NotifyClose();
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception e)
        {
            Fail(obj, new AggregateException(cause, e));
        }
    }

    /// <summary>HandleError, and if that throws too, log both and close the channel ourselves.</summary>
    internal static void Fail(Dispatcher obj, Exception e)
    {
        AsyncoreMetrics.Failures.Add(1);
        try
        {
            obj.HandleError(e);
        }
        catch (ExitNowException)
        {
            throw;
        }
        catch (Exception second)
        {
            try
            {
                obj.LogInfo($"HandleError threw {second.GetType()}: {LogText.Escape(second.Message)} while handling {e.GetType()}: {LogText.Escape(e.Message)}; closing channel", "error");
            }
            catch (Exception)
            {
                // Logging is the channel's own code too; nothing more can be said.
            }

            try
            {
                obj.Close();
            }
            catch (Exception)
            {
                // The channel is out of the map either way (DelChannel runs before the socket closes).
            }
        }
    }
}
