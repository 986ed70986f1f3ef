using System.CommandLine;
using System.Net;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Ping;

var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 6380 };
var command = new RootCommand("A RESP PING server on Asyncore.AsyncChat, for redis-benchmark -t ping_inline,ping_mbulk") { host, port };
command.SetAction(result =>
{
    var server = new PingServer(new IPEndPoint(IPAddress.Parse(result.GetValue(host)!), result.GetValue(port)));
    Console.WriteLine($"RESP PING on {server.Address}; Ctrl+C stops");
    return SampleHost.RunUntilStopped();
});
return command.Parse(args).Invoke();
