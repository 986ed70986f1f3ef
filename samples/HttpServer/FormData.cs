using System.Net;
using System.Text;

namespace Asyncore.Samples.Http;

/// <summary>application/x-www-form-urlencoded bodies: the asynchat example's parse(headers, data).</summary>
internal static class FormData
{
    /// <summary>The fields, decoded, in order.</summary>
    public static List<KeyValuePair<string, string>> Parse(ReadOnlySpan<byte> body)
    {
        var fields = new List<KeyValuePair<string, string>>();
        string text = Encoding.Latin1.GetString(body);
        foreach (string pair in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            string name = eq < 0 ? pair : pair[..eq];
            string value = eq < 0 ? string.Empty : pair[(eq + 1)..];
            fields.Add(new(WebUtility.UrlDecode(name), WebUtility.UrlDecode(value)));
        }

        return fields;
    }
}
