using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Line;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(7008);
var drainTimeout = SampleHost.DrainTimeoutOption();
var root = new RootCommand("A line protocol server on Asyncore.AsyncChat: each line (ended by CRLF or LF) is echoed, QUIT says bye") { host, port, drainTimeout };
root.SetAction(result =>
{
    if (SampleHost.Listen(SampleHost.EndPoint(result, host, port), at => new LineServer(at)) is not { } server)
    {
        return SampleHost.CannotListen;
    }

    return SampleHost.RunUntilStopped(
        SampleHost.DrainTimeout(result, drainTimeout),
        () => Console.WriteLine($"line server on {server.Address}; Ctrl+C stops"));
});
return SampleHost.Invoke(root, args);
