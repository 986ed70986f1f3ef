using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Text;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Echo;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(7007);
var drainTimeout = SampleHost.DrainTimeoutOption();
var root = new RootCommand("An echo server built only on Asyncore.Dispatcher; 'client' sends bytes to one and checks they come back") { host, port, drainTimeout };
root.SetAction(result =>
{
    if (SampleHost.Listen(SampleHost.EndPoint(result, host, port), at => new EchoServer(at)) is not { } server)
    {
        return SampleHost.CannotListen;
    }

    Console.WriteLine($"echo server on {server.Address}; Ctrl+C stops");
    return SampleHost.RunUntilStopped(SampleHost.DrainTimeout(result, drainTimeout));
});

var serverHost = new Option<IPAddress>("--host") { Description = "The echo server's address", DefaultValueFactory = _ => IPAddress.Loopback };
var serverPort = new Option<int>("--port") { Description = "The echo server's port", DefaultValueFactory = _ => 7007 };
var text = new Option<string?>("--text") { Description = "Send this text (default: --bytes random bytes)" };
var bytes = new Option<int>("--bytes") { Description = "How many random bytes to send when there is no --text", DefaultValueFactory = _ => 1_000_000 };
var client = new Command("client", "Connect to an echo server (EchoClient, also on Dispatcher alone), send, and check every byte comes back")
{
    serverHost, serverPort, text, bytes,
};
client.SetAction(result =>
{
    byte[] payload;
    if (result.GetValue(text) is { } message)
    {
        payload = Encoding.UTF8.GetBytes(message);
    }
    else
    {
        payload = new byte[Math.Max(1, result.GetValue(bytes))];
        Random.Shared.NextBytes(payload);
    }

    var at = new IPEndPoint(result.GetValue(serverHost)!, result.GetValue(serverPort));
    var echo = new EchoClient(at, payload);
    var clock = Stopwatch.StartNew();
    while (echo.Fileno >= 0 && clock.Elapsed < TimeSpan.FromSeconds(30))
    {
        EventLoop.Loop(PollerKind.Default, timeout: 0.2, count: 1);
    }

    EventLoop.CloseAll(ignoreAll: true);
    if (!echo.Done)
    {
        Console.Error.WriteLine($"echo client: {SampleHost.Show(at)} sent back {echo.Received} of {payload.Length} bytes{(echo.Received == 0 ? " (is an echo server running there?)" : "")}");
        return 1;
    }

    Console.WriteLine(result.GetValue(text) is { } sent
        ? sent
        : $"{payload.Length} bytes sent to {SampleHost.Show(at)} and received back identical in {clock.ElapsedMilliseconds} ms");
    return 0;
});
root.Subcommands.Add(client);
return SampleHost.Invoke(root, args);
