using Asyncore;

namespace Asyncore.Samples.Http;

/// <summary>
/// Folder listings, built off the loop thread and kept. A listing is made on the thread pool
/// (reading a folder of 100,000 entries takes about half a second, which would stall every other
/// connection of the loop) and its answer is posted back to the loop (<see cref="SocketMap.Post"/>),
/// where the connection sends it in the place of its request (<see cref="HttpRequestHandler.Hold"/>).
/// Requests for a folder whose listing is being built wait for that one build, and at most
/// <see cref="MaxBuilds"/> folders are read at once per loop (the rest wait their turn). A built listing is kept,
/// keyed by the folder's path, and served again while the folder's modification time (to the
/// nanosecond) is unchanged, for at most <see cref="MaxAge"/> (a file changed in place does not touch
/// its folder's time, and the listing shows sizes and times); at most <see cref="MaxEntries"/> listings
/// and <see cref="MaxBytes"/> bytes are kept per loop, the least recently used dropped first.
/// Everything here but the build itself runs on the loop's thread.
/// </summary>
internal sealed class ListingCache
{
    /// <summary>The most listings kept.</summary>
    public const int MaxEntries = 32;

    /// <summary>The most bytes of listings kept.</summary>
    public const long MaxBytes = 32L * 1024 * 1024;

    /// <summary>How long a kept listing is served while its folder's time is unchanged.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(5);

    /// <summary>The most listings built at once (per loop).</summary>
    public const int MaxBuilds = 2;

    private readonly Dictionary<string, Kept> _kept = new(StringComparer.Ordinal);
    private readonly Queue<(string Folder, string UrlPath, NativeFile.Facts Stamp, SocketMap Map)> _toBuild = new();
    private int _running;
    private readonly Dictionary<string, List<(HttpRequestHandler Connection, HeldAnswer Answer)>> _building = new(StringComparer.Ordinal);
    private long _bytes;

    /// <summary>How many listings were built (for tests).</summary>
    internal int Builds { get; private set; }

    /// <summary>Answers a request for the listing of <paramref name="folder"/> (shown as <paramref name="urlPath"/>), whose time is <paramref name="stamp"/>.</summary>
    public void Serve(HttpRequestHandler connection, string folder, string urlPath, NativeFile.Facts stamp)
    {
        long now = Environment.TickCount64;
        if (_kept.TryGetValue(folder, out Kept? kept))
        {
            if (kept.Stamp == stamp && now - kept.Built < (long)MaxAge.TotalMilliseconds)
            {
                kept.Used = now;
                Send(connection, kept.Page);
                return;
            }

            Forget(folder, kept);
        }

        HeldAnswer answer = connection.Hold();
        if (_building.TryGetValue(folder, out var waiting))
        {
            waiting.Add((connection, answer));
            return;
        }

        _building[folder] = [(connection, answer)];
        _toBuild.Enqueue((folder, urlPath, stamp, connection.Map));
        StartBuilds();
    }

    /// <summary>Starts waiting builds, at most <see cref="MaxBuilds"/> at a time per loop, so clients asking for many folders at once take a few pool threads, not one each.</summary>
    private void StartBuilds()
    {
        while (_running < MaxBuilds && _toBuild.TryDequeue(out var next))
        {
            var (folder, urlPath, stamp, map) = next;
            _running++;
            Builds++;
            _ = Task.Run(() =>
            {
                byte[]? page = null;
                try
                {
                    page = DirectoryListing.Render(folder, urlPath);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // answered 403, as a folder that cannot be read
                }

                map.Post(() => Built(folder, stamp, page));
            });
        }
    }

    private void Built(string folder, NativeFile.Facts stamp, byte[]? page)
    {
        _running--;
        StartBuilds();
        if (!_building.Remove(folder, out var waiting))
        {
            return;
        }

        if (page is not null && page.Length <= MaxBytes)
        {
            Keep(folder, new Kept(page, stamp, Environment.TickCount64));
        }

        foreach (var (connection, answer) in waiting)
        {
            connection.CompleteHeld(answer, page);
        }
    }

    private static void Send(HttpRequestHandler connection, byte[] page)
    {
        var head = new ResponseHead(200);
        head.Field("Content-Type: "u8, "text/html; charset=utf-8"u8);
        head.Field("Content-Length: "u8, page.Length);
        head.End(connection.Persistence);
        if (connection.IsHead || page.Length <= FileRegion.BlockSize)
        {
            connection.Writer.Send(ref head, connection.IsHead ? [] : page);
        }
        else
        {
            connection.Writer.SendWithProducer(ref head, new SimpleProducer(page, FileRegion.BlockSize)); // not copied: a kept page never changes
        }

        connection.Answered(200, connection.IsHead ? 0 : page.Length);
    }

    private void Keep(string folder, Kept kept)
    {
        while (_kept.Count > 0 && (_kept.Count >= MaxEntries || _bytes + kept.Page.Length > MaxBytes))
        {
            var oldest = _kept.MinBy(static k => k.Value.Used);
            Forget(oldest.Key, oldest.Value);
        }

        _kept[folder] = kept;
        _bytes += kept.Page.Length;
    }

    private void Forget(string folder, Kept kept)
    {
        _kept.Remove(folder);
        _bytes -= kept.Page.Length;
    }

    private sealed class Kept(byte[] page, NativeFile.Facts stamp, long built)
    {
        public byte[] Page { get; } = page;

        public NativeFile.Facts Stamp { get; } = stamp;

        public long Built { get; } = built;

        public long Used { get; set; } = built;
    }
}
