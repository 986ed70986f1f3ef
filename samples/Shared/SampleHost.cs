using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Asyncore;

namespace Asyncore.Samples;

/// <summary>Runs the default map's loop until Ctrl+C or SIGTERM, then closes every channel.</summary>
internal static class SampleHost
{
    /// <summary>--host, 127.0.0.1 by default: the samples listen on loopback unless told otherwise.</summary>
    public static Option<string> HostOption() =>
        new("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };

    /// <summary>--port with the sample's default.</summary>
    public static Option<int> PortOption(int defaultPort, string description = "Port to listen on") =>
        new("--port") { Description = description, DefaultValueFactory = _ => defaultPort };

    /// <summary>The address the two options name.</summary>
    public static IPEndPoint EndPoint(ParseResult result, Option<string> host, Option<int> port) =>
        new(IPAddress.Parse(result.GetValue(host)!), result.GetValue(port));

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
