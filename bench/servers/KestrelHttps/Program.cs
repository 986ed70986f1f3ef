// HTTPS peer for bench/tls-bench.sh, the HTTPS form of ../shared/bench/servers/dotnet/Peers's
// "http" mode: Kestrel minimal API, GET / -> "Hello, World!", logging at Warning, HTTP/1.1 only.
//   KestrelHttps PORT CERT.pem KEY.pem
// Listens on 127.0.0.1:PORT only. TLS 1.2 and 1.3 with the platform's default ciphers; session
// resumption off, as in bench/servers/nginx-tls.sh, so that a new connection is a full handshake.
using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

if (args.Length != 3 || !int.TryParse(args[0], out int port))
{
    Console.Error.WriteLine("usage: KestrelHttps PORT CERT.pem KEY.pem");
    return 2;
}

using X509Certificate2 certificate = X509Certificate2.CreateFromPemFile(args[1], args[2]);
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen =>
{
    listen.Protocols = HttpProtocols.Http1;
    listen.UseHttps(new HttpsConnectionAdapterOptions
    {
        ServerCertificate = certificate,
        SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        OnAuthenticate = (_, ssl) => ssl.AllowTlsResume = false,
    });
}));
var app = builder.Build();
app.MapGet("/", () => "Hello, World!");
await app.StartAsync();
Console.WriteLine($"kestrel https listening on https://127.0.0.1:{port}/");
await app.WaitForShutdownAsync();
return 0;
