using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Ping;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(6380);
var loops = SampleHost.LoopsOption();
var drainTimeout = SampleHost.DrainTimeoutOption();
var poller = SampleHost.PollerOption();
var command = new RootCommand("A RESP server that answers PING as Redis does, on Asyncore.AsyncChat (redis-cli -p 6380 ping; redis-benchmark -p 6380 -t ping_inline,ping_mbulk)")
{
    host, port, loops, drainTimeout, poller,
};
command.SetAction(result =>
{
    int count = result.GetValue(loops);
    PollerKind backend = result.GetValue(poller);
    return SampleHost.RunLoopsUntilStopped(
        SampleHost.EndPoint(result, host, port),
        count,
        (at, map, reusePort) => new PingServer(at, map, reusePort),
        server => Console.WriteLine($"RESP PING on {server.Address} ({(count == 1 ? "1 loop" : $"{count} loops")}{(backend == PollerKind.Default ? "" : $", --poller {result.GetResult(poller)?.Tokens[0].Value}")}); Ctrl+C stops"),
        SampleHost.DrainTimeout(result, drainTimeout),
        server => server.Accepted,
        backend);
});
return SampleHost.Invoke(command, args);
