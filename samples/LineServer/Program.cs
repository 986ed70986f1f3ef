using System.CommandLine;
using System.Net;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Line;

var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 7008 };
var root = new RootCommand("A line protocol server on Asyncore.AsyncChat: each line is echoed, QUIT says bye") { host, port };
root.SetAction(result =>
{
    var server = new LineServer(new IPEndPoint(IPAddress.Parse(result.GetValue(host)!), result.GetValue(port)));
    Console.WriteLine($"line server on {server.Address}");
    return SampleHost.RunUntilStopped();
});
return root.Parse(args).Invoke();
