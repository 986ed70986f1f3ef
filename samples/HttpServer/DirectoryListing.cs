using System.Globalization;
using System.Net;
using System.Text;

namespace Asyncore.Samples.Http;

/// <summary>A small HTML index of a folder without an index.html, in the manner of nginx's autoindex.</summary>
internal static class DirectoryListing
{
    /// <summary>The page for <paramref name="folder"/>, shown at <paramref name="urlPath"/> (which ends in '/').</summary>
    /// <returns>UTF-8 HTML, or null if the folder cannot be read.</returns>
    public static byte[]? Render(string folder, string urlPath)
    {
        List<FileSystemInfo> entries;
        try
        {
            entries = new DirectoryInfo(folder).EnumerateFileSystemInfos()
                .Where(e => !e.Name.StartsWith('.'))
                .OrderBy(e => e is FileInfo)
                .ThenBy(e => e.Name, StringComparer.Ordinal)
                .ToList();
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return null;
        }

        string title = WebUtility.HtmlEncode(urlPath);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ").Append(title)
            .Append("</title></head>\n<body>\n<h1>Index of ").Append(title).Append("</h1><hr><pre>\n");
        if (urlPath != "/")
        {
            html.Append("<a href=\"../\">../</a>\n");
        }

        foreach (FileSystemInfo entry in entries)
        {
            bool folderEntry = entry is DirectoryInfo;
            string name = entry.Name + (folderEntry ? "/" : "");
            string href = Uri.EscapeDataString(entry.Name) + (folderEntry ? "/" : "");
            html.Append("<a href=\"").Append(WebUtility.HtmlEncode(href)).Append("\">").Append(WebUtility.HtmlEncode(name)).Append("</a>")
                .Append(' ', Math.Max(1, 50 - name.Length))
                .Append(entry.LastWriteTimeUtc.ToString("dd-MMM-yyyy HH:mm", CultureInfo.InvariantCulture))
                .Append(folderEntry ? "                   -" : ((FileInfo)entry).Length.ToString(CultureInfo.InvariantCulture).PadLeft(20))
                .Append('\n');
        }

        html.Append("</pre><hr></body></html>\n");
        return Encoding.UTF8.GetBytes(html.ToString());
    }
}
