using System.Globalization;
using System.Net;
using System.Text;

namespace Asyncore.Samples.Http;

/// <summary>
/// A small HTML index of a folder without an index.html, in the manner of nginx's autoindex: folders
/// first, then files, each with its time and size. A name is linked with its bytes %-escaped (so a
/// name that is not UTF-8, such as Latin-1 "r\xE9sum\xE9.txt", links as r%E9sum%E9.txt, as nginx
/// writes it) and shown as UTF-8 with anything else as U+FFFD; an entry whose size or time cannot be
/// read shows "-". Reading a folder blocks on the disk and a large one takes long (100,000 entries:
/// about half a second), so <see cref="Render"/> runs off the loop thread (<see cref="ListingCache"/>).
/// </summary>
internal static class DirectoryListing
{
    /// <summary>For tests: runs on the thread that builds a listing, with the folder, before it is read.</summary>
    internal static Action<string>? BeforeBuild { get; set; }

    /// <summary>The page for <paramref name="folder"/>, shown at <paramref name="urlPath"/> (which ends in '/').</summary>
    /// <returns>UTF-8 HTML, or null if the folder cannot be read.</returns>
    public static byte[]? Render(string folder, string urlPath)
    {
        BeforeBuild?.Invoke(folder);
        List<FolderEntry>? read = NativeFile.ReadFolder(folder);
        if (read is null)
        {
            return null;
        }

        read.RemoveAll(static e => e.Name.Length > 0 && e.Name[0] == (byte)'.');
        read.Sort(static (a, b) => a.IsFolder != b.IsFolder ? (a.IsFolder ? -1 : 1) : a.Name.AsSpan().SequenceCompareTo(b.Name));

        string title = WebUtility.HtmlEncode(urlPath);
        var html = new StringBuilder(256 + (read.Count * 128));
        html.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ").Append(title)
            .Append("</title></head>\n<body>\n<h1>Index of ").Append(title).Append("</h1><hr><pre>\n");
        if (urlPath != "/")
        {
            html.Append("<a href=\"../\">../</a>\n");
        }

        foreach (FolderEntry entry in read)
        {
            string name = Encoding.UTF8.GetString(entry.Name) + (entry.IsFolder ? "/" : "");
            html.Append("<a href=\"");
            Href(html, entry.Name);
            html.Append(entry.IsFolder ? "/" : "").Append("\">").Append(WebUtility.HtmlEncode(name)).Append("</a>")
                .Append(' ', Math.Max(1, 50 - name.Length))
                .Append(entry.ModifiedSeconds is { } modified
                    ? DateTimeOffset.FromUnixTimeSeconds(modified).UtcDateTime.ToString("dd-MMM-yyyy HH:mm", CultureInfo.InvariantCulture)
                    : "-                ")
                .Append(entry.IsFolder || entry.Size < 0 ? "                   -" : entry.Size.ToString(CultureInfo.InvariantCulture).PadLeft(20))
                .Append('\n');
        }

        html.Append("</pre><hr></body></html>\n");
        return Encoding.UTF8.GetBytes(html.ToString());
    }

    /// <summary>A name's bytes as a link: unreserved characters (RFC 3986) as they are, every other byte %XX.</summary>
    private static void Href(StringBuilder html, ReadOnlySpan<byte> name)
    {
        foreach (byte b in name)
        {
            if (b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9') or (byte)'-' or (byte)'.' or (byte)'_' or (byte)'~')
            {
                html.Append((char)b);
            }
            else
            {
                html.Append('%').Append("0123456789ABCDEF"[b >> 4]).Append("0123456789ABCDEF"[b & 0xf]);
            }
        }
    }
}
