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

    return SampleHost.RunUntilStopped(
        SampleHost.DrainTimeout(result, drainTimeout),
        () => Console.WriteLine($"echo server on {server.Address}; Ctrl+C stops"));
});

var serverHost = SampleHost.AddressOption("--host", "The echo server's address");
var serverPort = SampleHost.NumberOption("--port", "The echo server's port", 7007, IPEndPoint.MinPort + 1, IPEndPoint.MaxPort);
var text = new Option<string?>("--text") { Description = "Send this text (default: --bytes random bytes)" };
var bytes = SampleHost.NumberOption("--bytes", "How many random bytes to send when there is no --text", 1_000_000, 1, Array.MaxLength);
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
        payload = new byte[result.GetValue(bytes)];
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
