using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Echo;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(7007);
var root = new RootCommand("An echo server built only on Asyncore.Dispatcher") { host, port };
root.SetAction(result =>
{
    var server = new EchoServer(SampleHost.EndPoint(result, host, port));
    Console.WriteLine($"echo server on {server.Address}");
    return SampleHost.RunUntilStopped();
});
return root.Parse(args).Invoke();
