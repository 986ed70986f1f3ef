using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Asyncore.Samples.Http;

namespace Asyncore.Tests.Http;

/// <summary>
/// Folder listings under --root as a new user meets them: a file whose name is not UTF-8 (Latin-1,
/// as older systems wrote them) and a broken link list like the others, escaped as nginx's autoindex
/// escapes them; a listing is built off the loop thread, so other connections of the loop are answered
/// meanwhile and the requests pipelined behind it are answered after it, in order; a large listing is
/// kept and served again while its folder is unchanged.
/// </summary>
public sealed partial class DirectoryListingTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("asyncore-http-listing-").FullName;

    public DirectoryListingTests() => File.WriteAllText(Path.Combine(_root, "small.txt"), "small\n");

    public void Dispose()
    {
        // .NET cannot name a file whose name is not UTF-8, so rm removes the folder.
        using var rm = System.Diagnostics.Process.Start("rm", ["-rf", _root]);
        rm.WaitForExit(30_000);
    }

    [LibraryImport("libc", EntryPoint = "creat", SetLastError = true)]
    private static unsafe partial int Creat(byte* path, uint mode);

    /// <summary>Creates a file whose path is these bytes exactly (not necessarily UTF-8).</summary>
    private static unsafe void CreateRaw(byte[] path)
    {
        byte[] terminated = [.. path, 0];
        fixed (byte* p = terminated)
        {
            int fd = Creat(p, 0x1a4 /* 0644 */);
            Assert.True(fd >= 0, $"creat failed: errno {Marshal.GetLastPInvokeError()}");
            Assert.Equal(0, Support.Native.Close(fd));
        }
    }

    [Fact]
    public void AFileNamedInLatin1AndABrokenLinkAreListedEscaped()
    {
        string folder = Directory.CreateDirectory(Path.Combine(_root, "docs")).FullName;
        File.WriteAllText(Path.Combine(folder, "ok.txt"), "fine");
        CreateRaw([.. Encoding.UTF8.GetBytes(folder + "/r"), 0xE9, .. "sum"u8, 0xE9, .. ".txt"u8]);
        File.CreateSymbolicLink(Path.Combine(folder, "gone.txt"), Path.Combine(_root, "nowhere"));

        using var server = new HttpTestServer(_root);
        byte[] answer = server.RawBytes("GET /docs/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8.ToArray());
        string text = Encoding.UTF8.GetString(answer);
        Assert.Equal("HTTP/1.1 200 OK", HttpTestServer.StatusLine(text));
        string html = text.Split("\r\n\r\n", 2)[1];
        Assert.Contains("<a href=\"r%E9sum%E9.txt\">r\uFFFDsum\uFFFD.txt</a>", html); // nginx's href; the page stays valid UTF-8
        Assert.Contains("<a href=\"ok.txt\">ok.txt</a>", html);
        Assert.Matches("<a href=\"gone.txt\">gone.txt</a> +[0-9]{2}-[A-Z][a-z]{2}-[0-9]{4} [0-9]{2}:[0-9]{2} +-\n", html); // a broken link: its own time, no size
        Assert.Matches("<a href=\"ok.txt\">ok.txt</a> +[0-9]{2}-[A-Z][a-z]{2}-[0-9]{4} [0-9]{2}:[0-9]{2} +4\n", html);
        Assert.True(Encoding.UTF8.GetByteCount(html) == int.Parse(HeaderField(text, "Content-Length"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.DoesNotContain("Exception", server.Log);
        Assert.Contains("\"GET /docs/ HTTP/1.1\" 200 ", server.Log);
    }

    private static string HeaderField(string response, string name) =>
        response.Split("\r\n").First(l => l.StartsWith(name + ": ", StringComparison.OrdinalIgnoreCase))[(name.Length + 2)..];

    [Fact]
    public void AListingIsBuiltOffTheLoopAndAnsweredInItsPlace()
    {
        string big = Directory.CreateDirectory(Path.Combine(_root, "big")).FullName;
        File.WriteAllText(Path.Combine(big, "one.txt"), "1");
        using var building = new ManualResetEventSlim();
        using var gate = new ManualResetEventSlim();
        int loopThread = -1;
        DirectoryListing.BeforeBuild = folder =>
        {
            if (folder.TrimEnd('/') == big)
            {
                Volatile.Write(ref loopThread, Environment.CurrentManagedThreadId);
                building.Set();
                gate.Wait(TimeSpan.FromSeconds(20)); // a listing built on the loop thread would stall the loop here
            }
        };
        try
        {
            using var server = new HttpTestServer(_root, o => o with { Quiet = true });
            using Socket lister = server.Connect();
            lister.Send("GET /big/ HTTP/1.1\r\nHost: x\r\n\r\nGET /small.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"u8);
            Assert.True(building.Wait(TimeSpan.FromSeconds(10)), "the listing was never built");

            // While it is being built, another client of the same loop is answered, at once and more than once.
            using Socket other = server.Connect();
            other.ReceiveTimeout = 5_000;
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < 3; i++)
            {
                other.Send("GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"u8);
                string answer = ReadAnswer(other);
                Assert.StartsWith("HTTP/1.1 200 OK", answer);
                Assert.EndsWith("\r\n\r\nsmall\n", answer);
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the loop answered slowly while a listing was built: {clock.Elapsed}");

            // The request pipelined behind the listing waits for it: nothing has been sent on that connection.
            Thread.Sleep(100);
            Assert.Equal(0, lister.Available);

            gate.Set();
            string both = Encoding.UTF8.GetString(Support.Drive.ReadToEnd(lister));
            Assert.Equal(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"], HttpTestServer.Statuses(both));
            Assert.Contains("<a href=\"one.txt\">one.txt</a>", both);
            Assert.True(both.IndexOf("one.txt", StringComparison.Ordinal) < both.LastIndexOf("HTTP/1.1 200 OK", StringComparison.Ordinal), "the answers came out of order");
            Assert.EndsWith("\r\n\r\nsmall\n", both);
        }
        finally
        {
            gate.Set();
            DirectoryListing.BeforeBuild = null;
        }
    }

    [Fact]
    public void ManyFoldersAskedAtOnceAreBuiltAFewAtATimeAndAllAnswered()
    {
        const int Folders = 6;
        for (int i = 0; i < Folders; i++)
        {
            File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(_root, $"f{i}")).FullName, $"in-{i}.txt"), "x");
        }

        int running = 0, most = 0;
        DirectoryListing.BeforeBuild = folder =>
        {
            if (folder.StartsWith(_root, StringComparison.Ordinal))
            {
                int now = Interlocked.Increment(ref running);
                InterlockedMax(ref most, now);
                Thread.Sleep(100);
                Interlocked.Decrement(ref running);
            }
        };
        try
        {
            using var server = new HttpTestServer(_root, o => o with { Quiet = true });
            var request = new StringBuilder();
            for (int i = 0; i < Folders; i++)
            {
                request.Append($"GET /f{i}/ HTTP/1.1\r\nHost: x\r\n\r\n");
            }

            string answers = server.Raw(request.ToString());
            Assert.Equal(Folders, HttpTestServer.Statuses(answers).Count(st => st == "HTTP/1.1 200 OK"));
            int at = 0;
            for (int i = 0; i < Folders; i++)
            {
                int found = answers.IndexOf($"in-{i}.txt", at, StringComparison.Ordinal);
                Assert.True(found > at, $"folder {i}'s listing is missing or out of order");
                at = found;
            }

            Assert.InRange(most, 1, ListingCache.MaxBuilds);
        }
        finally
        {
            DirectoryListing.BeforeBuild = null;
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    private static string ReadAnswer(Socket s)
    {
        var got = new List<byte>();
        byte[] buf = new byte[4096];
        while (true)
        {
            string text = Encoding.ASCII.GetString(got.ToArray());
            int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0 && got.Count >= end + 4 + int.Parse(HeaderField(text, "Content-Length"), System.Globalization.CultureInfo.InvariantCulture))
            {
                return text;
            }

            int n = s.Receive(buf);
            Assert.True(n > 0, "closed before the answer was complete");
            got.AddRange(buf.AsSpan(0, n));
        }
    }

    [Fact]
    public async Task ALargeFolderIsListedWhileAKeepAliveClientIsAnsweredAndTheListingIsKept()
    {
        const int Entries = 20_000;
        string big = Directory.CreateDirectory(Path.Combine(_root, "many")).FullName;
        for (int i = 0; i < Entries; i++)
        {
            File.Create(Path.Combine(big, $"file-{i:D6}.txt")).Dispose();
        }

        using var server = new HttpTestServer(_root, o => o with { Quiet = true });
        using var stop = new CancellationTokenSource();
        TimeSpan worst = TimeSpan.Zero;
        int answered = 0;
        Task keepAlive = Task.Run(() =>
        {
            using Socket s = server.Connect();
            while (!stop.IsCancellationRequested)
            {
                var one = Stopwatch.StartNew();
                s.Send("GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"u8);
                Assert.EndsWith("small\n", ReadAnswer(s));
                worst = one.Elapsed > worst ? one.Elapsed : worst;
                answered++;
            }
        });

        using HttpClient client = server.Client();
        var fetching = Stopwatch.StartNew();
        for (int i = 0; i < 3; i++)
        {
            string html = await client.GetStringAsync("/many/");
            Assert.Equal(Entries, System.Text.RegularExpressions.Regex.Count(html, "<a href=\"file-[0-9]{6}\\.txt\">"));
        }

        stop.Cancel();
        await keepAlive;
        Assert.True(answered > 0);
        // Built once, off the loop; the two requests after it were served the kept page (unless the
        // machine was so slow that the three took longer than a kept page lives).
        if (fetching.Elapsed < ListingCache.MaxAge)
        {
            Assert.Equal(1, server.Listings.Builds);
        }

        Assert.True(worst < TimeSpan.FromSeconds(1), $"a keep-alive request waited {worst.TotalMilliseconds:F0} ms while the folder was listed");

        // A change to the folder makes a new listing.
        int builds = server.Listings.Builds;
        File.Create(Path.Combine(big, "file-new.txt")).Dispose();
        Assert.Contains("file-new.txt", await client.GetStringAsync("/many/"));
        Assert.Equal(builds + 1, server.Listings.Builds);
    }
}
