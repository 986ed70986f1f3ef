using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Http;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(8080, "Port to listen on (0: any free port)");
var root = new Option<string?>("--root") { Description = "Serve files under this folder (default: a built-in page)" };
var maxBody = new Option<long>("--max-body") { Description = "Largest POST body in bytes (413 above it)", DefaultValueFactory = _ => 1024 * 1024 };
var quiet = new Option<bool>("--quiet") { Description = "No access log" };
var idle = new Option<double>("--idle-timeout") { Description = "Seconds a connection may stay silent (0: forever)", DefaultValueFactory = _ => 60 };
var requestTimeout = new Option<double>("--request-timeout") { Description = "Seconds a started request may take to arrive (0: forever)", DefaultValueFactory = _ => 10 };
var cert = SampleTls.CertOption("serve HTTPS on --port");
var key = SampleTls.KeyOption();
var command = new RootCommand("The asynchat documentation's http_request_handler, as a small HTTP/1.1 server")
{
    host, port, root, maxBody, quiet, idle, requestTimeout, cert, key,
};
command.SetAction(result =>
{
    string? docRoot = result.GetValue(root);
    if (docRoot is not null && !Directory.Exists(docRoot))
    {
        Console.Error.WriteLine($"--root: no such folder: {docRoot}");
        return 2;
    }

    if (!SampleTls.TryLoad(result, cert, key, [System.Net.Security.SslApplicationProtocol.Http11], out var tls))
    {
        return 2;
    }

    static TimeSpan? Seconds(double s) => s > 0 ? TimeSpan.FromSeconds(s) : null;
    var options = new HttpServerOptions
    {
        Root = docRoot,
        MaxBody = result.GetValue(maxBody),
        Quiet = result.GetValue(quiet),
        IdleTimeout = Seconds(result.GetValue(idle)),
        RequestTimeout = Seconds(result.GetValue(requestTimeout)),
        Tls = tls,
    };
    if (SampleHost.Listen(SampleHost.EndPoint(result, host, port), at => new HttpServer(at, options)) is not { } server)
    {
        return SampleHost.CannotListen;
    }

    string shown = server.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
        ? $"[{server.Address.Address}]:{server.Address.Port}"
        : server.Address.ToString();
    string scheme = tls is null ? "http" : "https";
    Console.WriteLine($"Serving {scheme.ToUpperInvariant()} on {scheme}://{shown}/ ({(docRoot is null ? "built-in page" : $"root {Path.GetFullPath(docRoot)}")}); Ctrl+C stops");

    int code = SampleHost.RunUntilStopped();
    Console.WriteLine("stopped");
    return code;
});
return SampleHost.Invoke(command, args);
