using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Asyncore.Tests.Support;

namespace Asyncore.Tests.Http;

/// <summary>
/// The HTTP sample looked at in a browser: headless chromium loads the built-in page, and a page
/// under --root that pulls a stylesheet, a script, images (one large enough to be streamed by a
/// FileProducer) and a byte range from the server over several keep-alive connections. A script in
/// the page writes what loaded into the DOM, which chromium dumps; a screenshot is kept in
/// artifacts/ next to the test assembly.
/// </summary>
public sealed class BrowserTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("asyncore-http-browser-").FullName;
    private readonly string _profile = Directory.CreateTempSubdirectory("asyncore-chromium-").FullName;

    public BrowserTests()
    {
        File.WriteAllText(Path.Combine(_root, "index.html"), """
            <!DOCTYPE html>
            <html>
            <head>
              <meta charset="utf-8">
              <title>Asyncore file server</title>
              <link rel="stylesheet" href="style.css">
              <script src="app.js"></script>
            </head>
            <body>
              <h1>Served by Asyncore</h1>
              <p>Café, naïve, Ωμέγα: UTF-8 all the way.</p>
              <div class="row">
                <img id="i0" src="img/0.png"><img id="i1" src="img/1.png"><img id="i2" src="img/2.png"><img id="i3" src="img/3.png">
                <img id="i4" src="img/4.png"><img id="i5" src="img/5.png"><img id="i6" src="img/6.png"><img id="i7" src="img/7.png">
              </div>
              <img id="large" src="img/large%20noise.png">
              <pre id="report">not run</pre>
              <p id="verdict">not run</p>
            </body>
            </html>
            """);
        File.WriteAllText(Path.Combine(_root, "style.css"), "body { background: rgb(51, 102, 153); color: white; font-family: sans-serif; }\nimg { margin: 2px; }\n");
        File.WriteAllText(Path.Combine(_root, "app.js"), """
            window.addEventListener('load', function () {
              var results = {};
              results.css = getComputedStyle(document.body).backgroundColor;
              for (var i = 0; i < 8; i++) {
                var img = document.getElementById('i' + i);
                results['img' + i] = img.complete && img.naturalWidth === 16 + i && img.naturalHeight === 16;
              }
              var large = document.getElementById('large');
              results.large = large.complete && large.naturalWidth === 400 && large.naturalHeight === 300;
              var xhr = new XMLHttpRequest();
              xhr.open('GET', 'range.txt', false);
              xhr.setRequestHeader('Range', 'bytes=4-7');
              xhr.send();
              results.range = xhr.status + ' ' + xhr.responseText + ' ' + xhr.getResponseHeader('Content-Range');
              results.resources = performance.getEntriesByType('resource').map(function (e) { return e.name.replace(location.origin, ''); }).sort();
              document.getElementById('report').textContent = JSON.stringify(results, null, 1);
              var ok = results.css === 'rgb(51, 102, 153)' && results.large && results.range === '206 4567 bytes 4-7/16';
              for (var j = 0; j < 8; j++) { ok = ok && results['img' + j]; }
              document.getElementById('verdict').textContent = ok ? 'everything loaded' : 'something is missing';
            });
            """);
        File.WriteAllText(Path.Combine(_root, "range.txt"), "0123456789abcdef");
        Directory.CreateDirectory(Path.Combine(_root, "img"));
        for (int i = 0; i < 8; i++)
        {
            File.WriteAllBytes(Path.Combine(_root, "img", $"{i}.png"), Png(16 + i, 16, (x, y) => ((byte)(i * 30), (byte)(x * 15), (byte)(y * 15))));
        }

        var random = new Random(12);
        File.WriteAllBytes(Path.Combine(_root, "img", "large noise.png"), Png(400, 300, (_, _) => ((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256))));
        Assert.True(new FileInfo(Path.Combine(_root, "img", "large noise.png")).Length > 256 * 1024);
    }

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        Directory.Delete(_profile, recursive: true);
    }

    [NeedsFact(Outside.Chromium)]
    public void ChromiumShowsTheBuiltInPage()
    {
        using var server = new HttpTestServer();
        string dom = Chromium("--dump-dom", server.Url + "/");
        Assert.Contains("Hello, World!", dom);
        Assert.Contains("This is the HTTP server sample of Asyncore", dom);
        Assert.Contains("\"GET / HTTP/1.1\" 200 ", server.Log);
    }

    [NeedsFact(Outside.Chromium)]
    public void ChromiumLoadsAPageAndEverySubResource()
    {
        using var server = new HttpTestServer(_root);
        string dom = Chromium("--dump-dom", server.Url + "/");
        string report = WebUtility.HtmlDecode(Regex.Match(dom, "<pre id=\"report\">(.*?)</pre>", RegexOptions.Singleline).Groups[1].Value);
        Assert.Contains("<p id=\"verdict\">everything loaded</p>", dom + "\n" + report);
        Assert.Contains("Café, naïve, Ωμέγα", dom);
        foreach (string resource in new[] { "/style.css", "/app.js", "/img/0.png", "/img/7.png", "/img/large%20noise.png", "/range.txt" })
        {
            Assert.Contains($"\"{resource}\"", report);
        }

        string log = server.Log;
        foreach (string request in new[] { "GET / ", "GET /style.css ", "GET /app.js ", "GET /img/3.png ", "GET /img/large%20noise.png " })
        {
            Assert.Contains($"\"{request}HTTP/1.1\" 200 ", log);
        }

        Assert.Contains("\"GET /range.txt HTTP/1.1\" 206 4", log);
        int requests = Regex.Matches(log, "\" (200|206|304|404) ").Count;
        Assert.True(server.Server.Accepted >= 2, $"one connection only: {log}");           // in parallel
        Assert.True(server.Server.Accepted < requests, $"{server.Server.Accepted} connections for {requests} requests"); // and kept alive

        // The same page, for the eye: a screenshot kept with the test output.
        string artifacts = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "artifacts")).FullName;
        string shot = Path.Combine(artifacts, "chromium-file-server.png");
        File.Delete(shot);
        Chromium("--window-size=1024,768", "--screenshot=" + shot, server.Url + "/");
        byte[] png = File.ReadAllBytes(shot);
        Assert.True(png.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "not a PNG");
        Assert.Equal((1024, 768), (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20))));
    }

    [NeedsFact(Outside.Chromium)]
    public void ChromiumShowsAFolderListing()
    {
        File.Delete(Path.Combine(_root, "index.html"));
        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        string dom = Chromium("--dump-dom", server.Url + "/img");
        Assert.Contains("<title>Index of /img/</title>", dom);
        Assert.Contains("<a href=\"large%20noise.png\">large noise.png</a>", dom);
    }

    /// <summary>Runs headless chromium (as root it needs --no-sandbox) with a new, empty profile; returns its standard output.</summary>
    private string Chromium(params string[] args)
    {
        string profile = Directory.CreateDirectory(Path.Combine(_profile, Guid.NewGuid().ToString("N"))).FullName;
        var psi = new ProcessStartInfo(Needs.PathOf(Outside.Chromium),
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--user-data-dir=" + profile, .. args,
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process p = Process.Start(psi)!;
        Task<string> output = p.StandardOutput.ReadToEndAsync();
        Task<string> errors = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(90_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("chromium did not finish in 90 s: " + errors.Result);
        }

        Assert.True(p.ExitCode == 0, $"chromium exited {p.ExitCode}: {errors.Result}");
        return output.Result;
    }

    /// <summary>A truecolour PNG (RFC 2083) of the given size, each pixel from <paramref name="pixel"/>.</summary>
    private static byte[] Png(int width, int height, Func<int, int, (byte R, byte G, byte B)> pixel)
    {
        var raw = new MemoryStream();
        for (int y = 0; y < height; y++)
        {
            raw.WriteByte(0); // filter: none
            for (int x = 0; x < width; x++)
            {
                var (r, g, b) = pixel(x, y);
                raw.Write([r, g, b]);
            }
        }

        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            raw.Position = 0;
            raw.CopyTo(z);
        }

        var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        byte[] header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bits per sample
        header[9] = 2; // truecolour
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", compressed.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);
        byte[] typed = [.. Encoding.ASCII.GetBytes(type), .. data];
        png.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        png.Write(word);
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
        }

        return ~crc;
    }
}
