using System.CommandLine;
using System.Net;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Echo;

var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 7007 };
var root = new RootCommand("An echo server built only on Asyncore.Dispatcher") { host, port };
root.SetAction(result =>
{
    var server = new EchoServer(new IPEndPoint(IPAddress.Parse(result.GetValue(host)!), result.GetValue(port)));
    Console.WriteLine($"echo server on {server.Address}");
    return SampleHost.RunUntilStopped();
});
return root.Parse(args).Invoke();
