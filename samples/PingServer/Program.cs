using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Ping;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(6380);
var command = new RootCommand("A RESP server that answers PING as Redis does, on Asyncore.AsyncChat (redis-cli -p 6380 ping; redis-benchmark -p 6380 -t ping_inline,ping_mbulk)") { host, port };
command.SetAction(result =>
{
    if (SampleHost.Listen(SampleHost.EndPoint(result, host, port), at => new PingServer(at)) is not { } server)
    {
        return SampleHost.CannotListen;
    }

    Console.WriteLine($"RESP PING on {server.Address}; Ctrl+C stops");
    return SampleHost.RunUntilStopped();
});
return SampleHost.Invoke(command, args);
