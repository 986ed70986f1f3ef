using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Ping;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(6380);
var command = new RootCommand("A RESP PING server on Asyncore.AsyncChat, for redis-benchmark -t ping_inline,ping_mbulk") { host, port };
command.SetAction(result =>
{
    var server = new PingServer(SampleHost.EndPoint(result, host, port));
    Console.WriteLine($"RESP PING on {server.Address}; Ctrl+C stops");
    return SampleHost.RunUntilStopped();
});
return command.Parse(args).Invoke();
