using Asyncore.Polling;

namespace Asyncore.Tests.Support;

/// <summary>test_asyncore's exitingdummy: every event entry point throws ExitNow.</summary>
internal sealed class ExitingDummy : Dispatcher
{
    public ExitingDummy() : base(null, new SocketMap())
    {
    }

    protected internal override void HandleReadEvent() => throw new ExitNowException();

    protected internal override void HandleWriteEvent() => throw new ExitNowException();

    protected internal override void HandleExptEvent() => throw new ExitNowException();

    protected internal override void HandleClose() => throw new ExitNowException();
}

/// <summary>test_asyncore's crashingdummy: every event entry point throws; HandleError records it.</summary>
internal sealed class CrashingDummy : Dispatcher
{
    public CrashingDummy() : base(null, new SocketMap())
    {
    }

    public bool ErrorHandled { get; private set; }

    protected internal override void HandleReadEvent() => throw new InvalidOperationException();

    protected internal override void HandleWriteEvent() => throw new InvalidOperationException();

    protected internal override void HandleExptEvent() => throw new InvalidOperationException();

    protected internal override void HandleClose() => throw new InvalidOperationException();

    protected internal override void HandleError(Exception exception) => ErrorHandled = true;
}

/// <summary>test_readwrite's testobj: records which entry point ran.</summary>
internal sealed class RecordingDummy : Dispatcher
{
    public RecordingDummy() : base(null, new SocketMap())
    {
    }

    public bool Read, Write, Closed, Expt, ErrorHandled;

    protected internal override void HandleReadEvent() => Read = true;

    protected internal override void HandleWriteEvent() => Write = true;

    protected internal override void HandleExptEvent() => Expt = true;

    protected internal override void HandleClose() => Closed = true;

    protected internal override void HandleError(Exception exception) => ErrorHandled = true;
}

internal static class Flags
{
    public static PollFlags Of(string name) => name switch
    {
        "POLLIN" => PollFlags.In,
        "POLLPRI" => PollFlags.Pri,
        "POLLOUT" => PollFlags.Out,
        "POLLERR" => PollFlags.Err,
        "POLLHUP" => PollFlags.Hup,
        "POLLNVAL" => PollFlags.Nval,
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };
}
