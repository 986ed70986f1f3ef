namespace Asyncore.Samples.Http;

/// <summary>
/// GET and HEAD under --root: a file (with its validators, conditional requests and one byte
/// range), a folder's index.html or listing, or the error nginx would give. Files are opened
/// without blocking the loop (<see cref="NativeFile"/>) and kept open between requests
/// (<see cref="OpenFileCache"/>); a small one goes out in the same send as its head, a larger one as
/// a <see cref="FileRegion"/>, which the library sends with sendfile(2) where it can.
/// </summary>
internal sealed class FileResponder
{
    private readonly string _root;

    /// <summary>Folder listings, built off the loop thread and kept (one per loop, as this responder is).</summary>
    private readonly ListingCache _listings = new();

    /// <summary>Files kept open between requests (one per loop, as this responder is).</summary>
    private readonly OpenFileCache _open;

    /// <summary>The root's real path, which every file served must be in; null with --follow-symlinks.</summary>
    private readonly string? _within;

    /// <param name="root">The folder served.</param>
    /// <param name="followSymlinks">
    /// Serve what a symbolic link under the root leads to wherever it is. By default a path that
    /// leads outside the root's real path (through any link on the way) is 403, as nginx's
    /// <c>disable_symlinks</c> answers; links that stay inside the root are followed.
    /// </param>
    /// <param name="openFiles">The most files kept open between requests (0: none).</param>
    public FileResponder(string root, bool followSymlinks = false, int openFiles = 1000)
    {
        _open = new OpenFileCache(openFiles);
        _root = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar);
        _within = followSymlinks ? null : NativeFile.RealPath(_root);
    }

    /// <summary>The folder listings built and kept.</summary>
    internal ListingCache Listings => _listings;

    /// <summary>The files kept open.</summary>
    internal OpenFileCache OpenFiles => _open;

    /// <summary>Answers the request whose head <paramref name="request"/> holds, on <paramref name="connection"/>.</summary>
    public void Serve(HttpRequestHandler connection, RequestHeadParser request)
    {
        ReadOnlySpan<byte> target = request[request.Head.Target];
        ReadOnlySpan<byte> rawPath = TargetPath.PathOf(target);
        switch (TargetPath.Decode(rawPath, out string path))
        {
            case PathStatus.BadRequest:
                connection.Fail(400, "the path is not valid (a broken %-escape, a NUL, or not UTF-8)");
                return;
            case PathStatus.Forbidden:
                connection.Fail(403, "the path leaves the document root");
                return;
        }

        string full = _root + path;
        OpenStatus status = _open.Open(full, _within, out OpenFileCache.Entry? file, out NativeFile.Facts facts);
        if (status == OpenStatus.File)
        {
            ServeFile(connection, request, file!);
            return;
        }

        if (status != OpenStatus.Directory)
        {
            Refuse(connection, status);
            return;
        }

        if (rawPath[^1] != '/')
        {
            // As nginx does: a folder's address ends in '/', so the relative links of its page resolve inside it.
            string location = TargetPath.ForLocation(rawPath) + "/" + TargetPath.ForLocation(TargetPath.QueryOf(target));
            connection.Fail(301, location, close: false, location: location);
            return;
        }

        NativeFile.Facts folder = facts;
        string index = Path.Join(full, "index.html");
        OpenStatus indexStatus = _open.Open(index, _within, out file, out _);
        if (indexStatus == OpenStatus.File)
        {
            ServeFile(connection, request, file!);
            return;
        }

        if (indexStatus is OpenStatus.Forbidden or OpenStatus.Outside or OpenStatus.Failed)
        {
            Refuse(connection, indexStatus);
            return;
        }

        _listings.Serve(connection, full, path, folder);
    }

    private static void Refuse(HttpRequestHandler connection, OpenStatus status)
    {
        switch (status)
        {
            case OpenStatus.Forbidden:
                connection.Fail(403, "permission denied", close: false);
                break;
            case OpenStatus.Outside:
                connection.Fail(403, "a symbolic link leads outside the root", close: false);
                break;
            case OpenStatus.Failed:
                connection.Fail(500, "the file could not be opened");
                break;
            default:
                connection.Fail(404, "no such file", close: false);
                break;
        }
    }

    private void ServeFile(HttpRequestHandler connection, RequestHeadParser request, OpenFileCache.Entry file)
    {
        try
        {
            ref readonly RequestHead h = ref request.Head;
            NativeFile.Facts facts = file.Facts;
            long size = facts.Size, modified = facts.ModifiedSeconds;
            ReadOnlySpan<byte> etag = file.ETag ??= MakeETag(modified, size);

            int precondition = Preconditions(request, etag, modified);
            if (precondition == 412)
            {
                connection.Fail(412, "the file does not match the request's If-Match or If-Unmodified-Since", close: false);
                return;
            }

            if (precondition == 304)
            {
                var notModified = new ResponseHead(304);
                notModified.DateField("Last-Modified: "u8, modified);
                notModified.Field("ETag: "u8, etag);
                notModified.End(connection.Persistence);
                connection.Writer.Send(ref notModified, []);
                connection.Answered(304, 0);
                return;
            }

            int status = 200;
            long start = 0, count = size;
            if (h.Range.IsPresent && IfRangeHolds(request, etag, modified))
            {
                switch (ByteRanges.Parse(request[h.Range], size, out start, out count))
                {
                    case RangeKind.Single:
                        status = 206;
                        break;
                    case RangeKind.Unsatisfiable:
                        connection.Fail(416, $"the file has {size} bytes", close: false, rangeLength: size);
                        return;
                }
            }

            var head = new ResponseHead(status);
            if (status == 200 && file.Fields200 is { } kept)
            {
                head.Fields(kept); // built once per version of the file
            }
            else
            {
                int from = head.Written.Length;
                head.Field("Content-Type: "u8, ContentTypes.For(file.Path));
                head.Field("Content-Length: "u8, count);
                head.DateField("Last-Modified: "u8, modified);
                head.Field("ETag: "u8, etag);
                head.Field("Accept-Ranges: "u8, "bytes"u8);
                if (status == 206)
                {
                    head.ContentRange(start, count, size);
                }
                else
                {
                    file.Fields200 = head.Written[from..].ToArray();
                }
            }

            head.End(connection.Persistence);
            if (connection.IsHead || count == 0)
            {
                connection.Writer.Send(ref head, []);
                connection.Answered(status, 0);
                return;
            }

            if (count <= FileRegion.BlockSize && count <= head.Room.Length)
            {
                if (!connection.Writer.SendSmallFile(ref head, file.File, start, (int)count))
                {
                    connection.Fail(500, "the file shrank while it was read");
                    return;
                }

                connection.Answered(status, count);
                return;
            }

            // Logged when the body ends, with the bytes the socket took (fewer than promised when
            // the file shrank while it was sent, or the client left), as nginx logs $body_bytes_sent.
            // The library closes the connection if the file comes up short. A kept file is shared by
            // every answer that sends it and stays open until the last of them is done.
            Action<long>? logged = connection.AnsweredLater(status);
            FileRegion region;
            if (connection.FilesQueued > 0)
            {
                // Queued behind another file: opened again when its turn comes, so a client that
                // pipelines a thousand downloads holds one descriptor, not a thousand.
                OpenFileCache.Entry? later = null;
                string path = file.Path;
                NativeFile.Facts described = facts;
                region = new FileRegion(
                    () => _open.Open(path, _within, out later, out NativeFile.Facts now) == OpenStatus.File && now == described ? later!.File : null,
                    start,
                    count,
                    ownsFile: false,
                    completed: r =>
                    {
                        later?.Release();
                        connection.FileDone(logged, r.Transferred);
                    });
            }
            else
            {
                file.Acquire();
                region = new FileRegion(file.File, start, count, ownsFile: false, completed: r =>
                {
                    file.Release();
                    connection.FileDone(logged, r.Transferred);
                });
            }

            connection.FilesQueued++;
            connection.Cork(true); // the head and the body's first bytes in full segments, as nginx's tcp_nopush
            connection.Writer.SendWithProducer(ref head, region);
        }
        finally
        {
            file.Release();
        }
    }

    private static byte[] MakeETag(long modified, long size)
    {
        Span<byte> etag = stackalloc byte[40];
        return etag[..EntityTag.Format(modified, size, etag)].ToArray();
    }

    /// <summary>RFC 9110 13.2.2's order: If-Match, else If-Unmodified-Since (412); If-None-Match, else If-Modified-Since (304).</summary>
    /// <returns>0 to go on, 304 or 412.</returns>
    private static int Preconditions(RequestHeadParser request, ReadOnlySpan<byte> etag, long modified)
    {
        ref readonly RequestHead h = ref request.Head;
        if (h.IfMatch.IsPresent)
        {
            if (!EntityTag.ListMatches(request[h.IfMatch], etag, weak: false))
            {
                return 412;
            }
        }
        else if (h.IfUnmodifiedSince.IsPresent && HttpDate.TryParse(request[h.IfUnmodifiedSince], out long unmodifiedSince)
                 && modified > unmodifiedSince)
        {
            return 412;
        }

        if (h.IfNoneMatch.IsPresent)
        {
            return EntityTag.ListMatches(request[h.IfNoneMatch], etag, weak: true) ? 304 : 0;
        }

        // nginx's default (if_modified_since exact): not modified only when the date is the file's own.
        return h.IfModifiedSince.IsPresent && HttpDate.TryParse(request[h.IfModifiedSince], out long since) && since == modified ? 304 : 0;
    }

    /// <summary>If-Range (RFC 9110 13.1.5): the range counts only if the tag matches strongly, or the date is exactly Last-Modified.</summary>
    private static bool IfRangeHolds(RequestHeadParser request, ReadOnlySpan<byte> etag, long modified)
    {
        ref readonly RequestHead h = ref request.Head;
        if (!h.IfRange.IsPresent)
        {
            return true;
        }

        ReadOnlySpan<byte> value = request[h.IfRange];
        if (value.EndsWith("\""u8))
        {
            return value.SequenceEqual(etag);
        }

        return HttpDate.TryParse(value, out long date) && date == modified;
    }
}
