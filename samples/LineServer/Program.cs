using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Line;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(7008);
var root = new RootCommand("A line protocol server on Asyncore.AsyncChat: each line is echoed, QUIT says bye") { host, port };
root.SetAction(result =>
{
    var server = new LineServer(SampleHost.EndPoint(result, host, port));
    Console.WriteLine($"line server on {server.Address}");
    return SampleHost.RunUntilStopped();
});
return root.Parse(args).Invoke();
