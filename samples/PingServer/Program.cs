using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Asyncore;
using Asyncore.Samples.Ping;

var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 6380 };
var command = new RootCommand("A RESP PING server on Asyncore.AsyncChat, for redis-benchmark -t ping_inline,ping_mbulk") { host, port };
command.SetAction(result =>
{
    var server = new PingServer(new IPEndPoint(IPAddress.Parse(result.GetValue(host)!), result.GetValue(port)));
    Console.WriteLine($"RESP PING on {server.Address}; Ctrl+C stops");
    bool stop = false;
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; Volatile.Write(ref stop, true); });
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Volatile.Write(ref stop, true); });
    while (!Volatile.Read(ref stop))
    {
        EventLoop.Loop(PollerKind.Default, timeout: 0.2, count: 1);
    }

    EventLoop.CloseAll(ignoreAll: true);
    return 0;
});
return command.Parse(args).Invoke();
