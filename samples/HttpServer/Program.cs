using System.CommandLine;
using Asyncore;
using Asyncore.Samples;
using Asyncore.Samples.Http;

var host = SampleHost.HostOption();
var port = SampleHost.PortOption(8080, "Port to listen on (0: any free port)");
var root = new Option<string?>("--root") { Description = "Serve files under this folder (default: a built-in page)" };
var followSymlinks = new Option<bool>("--follow-symlinks") { Description = "Serve what symbolic links under --root lead to even outside it (default: 403 for a path that leaves the root through a link)" };
var maxBody = SampleHost.NumberOption<long>("--max-body", "Largest POST body in bytes (413 above it)", 1024 * 1024, 0, long.MaxValue);
var openFiles = SampleHost.NumberOption<int>("--open-file-cache", "Most files kept open between requests, per loop, validated by a stat of the path on every request (nginx's open_file_cache; 0: none)", 1000, 0, 1_000_000);
var quiet = new Option<bool>("--quiet") { Description = "No access log" };
var idle = SampleHost.NumberOption<double>("--idle-timeout", "Seconds a connection may stay silent (0: forever)", 60, 0, 86400);
var requestTimeout = SampleHost.NumberOption<double>("--request-timeout", "Seconds a started request head may take to arrive (0: forever)", 10, 0, 86400);
var bodyTimeout = SampleHost.NumberOption<double>("--body-timeout", "Seconds a request body may go without a byte arriving (0: forever); a slow but steady upload is never cut", 60, 0, 86400);
var proxyProtocol = new Option<bool>("--proxy-protocol") { Description = "Require a PROXY protocol header (v1 or v2, HAProxy's send-proxy / send-proxy-v2) on every connection; the access log shows the client address it carries" };
var proxyFrom = new Option<string?>("--proxy-from") { Description = "With --proxy-protocol: the networks the proxies connect from, as CIDR[,CIDR...] (nginx's set_real_ip_from); a connection from elsewhere is closed without an answer. Without it, anyone who reaches the port can claim any address" };
var loops = SampleHost.LoopsOption();
var poller = SampleHost.PollerOption();
var drainTimeout = SampleHost.DrainTimeoutOption();
var cert = SampleTls.CertOption("serve HTTPS on --port");
var key = SampleTls.KeyOption();
var noResume = SampleTls.NoResumeOption();
var command = new RootCommand("The asynchat documentation's http_request_handler, as a small HTTP/1.1 server")
{
    host, port, root, followSymlinks, openFiles, maxBody, quiet, idle, requestTimeout, bodyTimeout, proxyProtocol, proxyFrom, loops, drainTimeout, cert, key, noResume, poller,
};
command.SetAction(result =>
{
    string? docRoot = result.GetValue(root);
    if (docRoot is not null && !Directory.Exists(docRoot))
    {
        return SampleHost.SayBadCommandLine($"--root: no such folder: {docRoot}");
    }

    System.Net.IPNetwork[]? trusted = null;
    if (result.GetValue(proxyFrom) is { } networks)
    {
        if (!result.GetValue(proxyProtocol))
        {
            return SampleHost.SayBadCommandLine("--proxy-from needs --proxy-protocol");
        }

        var parsed = new List<System.Net.IPNetwork>();
        foreach (string cidr in networks.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!System.Net.IPNetwork.TryParse(cidr, out System.Net.IPNetwork network))
            {
                return SampleHost.SayBadCommandLine($"--proxy-from: not a network (CIDR, such as 10.0.0.0/8): '{cidr}'");
            }

            parsed.Add(network);
        }

        if (parsed.Count == 0)
        {
            return SampleHost.SayBadCommandLine("--proxy-from: no network given");
        }

        trusted = [.. parsed];
    }

    if (!SampleTls.TryLoad(result, cert, key, noResume, [System.Net.Security.SslApplicationProtocol.Http11], out var tls))
    {
        return SampleHost.BadCommandLine;
    }

    static TimeSpan? Seconds(double s) => s > 0 ? TimeSpan.FromSeconds(s) : null;
    var options = new HttpServerOptions
    {
        Root = docRoot,
        FollowSymlinks = result.GetValue(followSymlinks),
        OpenFileCache = result.GetValue(openFiles),
        MaxBody = result.GetValue(maxBody),
        Quiet = result.GetValue(quiet),
        IdleTimeout = Seconds(result.GetValue(idle)),
        RequestTimeout = Seconds(result.GetValue(requestTimeout)),
        BodyReadTimeout = Seconds(result.GetValue(bodyTimeout)),
        ProxyProtocol = result.GetValue(proxyProtocol),
        ProxyFrom = trusted,
        Tls = tls,
        DetectPlainHttp = result.GetValue(poller) != PollerKind.IoUring,
    };
    int count = result.GetValue(loops);
    PollerKind backend = result.GetValue(poller);
    return SampleHost.RunLoopsUntilStopped(
        SampleHost.EndPoint(result, host, port),
        count,
        (at, map, reusePort) => new HttpServer(at, options, map, reusePort),
        server =>
        {
            string what = docRoot is null ? "built-in page" : $"root {Path.GetFullPath(docRoot)}";
            string extras = (count == 1 ? "1 loop" : $"{count} loops") + (options.ProxyProtocol ? ", PROXY protocol required" : "")
                + (backend == PollerKind.Default ? "" : $", --poller {result.GetResult(poller)?.Tokens[0].Value}");
            string scheme = tls is null ? "http" : "https";
            Console.WriteLine($"Serving {scheme.ToUpperInvariant()} on {scheme}://{SampleHost.Show(server.Address)}/ ({what}; {extras}); Ctrl+C stops");
        },
        SampleHost.DrainTimeout(result, drainTimeout),
        server => server.Accepted,
        backend);
});
return SampleHost.Invoke(command, args);
