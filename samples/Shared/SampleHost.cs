using System.Runtime.InteropServices;
using Asyncore;

namespace Asyncore.Samples;

/// <summary>Runs the default map's loop until Ctrl+C or SIGTERM, then closes every channel.</summary>
internal static class SampleHost
{
    public static int RunUntilStopped()
    {
        // The signal handlers only set a flag; the loop stays single-threaded and checks it between passes.
        bool stop = false;
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx =>
        {
            ctx.Cancel = true;
            Volatile.Write(ref stop, true);
        });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            Volatile.Write(ref stop, true);
        });
        while (!Volatile.Read(ref stop))
        {
            EventLoop.Loop(PollerKind.Default, timeout: 0.2, count: 1);
        }

        EventLoop.CloseAll(ignoreAll: true);
        return 0;
    }
}
