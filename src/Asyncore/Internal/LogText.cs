using System.Text;

namespace Asyncore;

/// <summary>
/// Text a peer may have chosen (an address a PROXY header claims, an exception's message), made safe
/// for one log line: every control character (CR, LF, ESC, DEL, C1) and the Unicode line and paragraph
/// separators become <c>\xHH</c> or <c>\uHHHH</c>, as nginx escapes its logs and Python's repr its
/// strings, so a peer cannot end a line, forge the next one or send escape sequences to a terminal.
/// </summary>
internal static class LogText
{
    /// <summary>The escaped text; the same string when nothing needs escaping.</summary>
    internal static string Escape(string? text)
    {
        if (text is null)
        {
            return "";
        }

        int i = 0;
        while (i < text.Length && !NeedsEscape(text[i]))
        {
            i++;
        }

        if (i == text.Length)
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 16);
        sb.Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (!NeedsEscape(c))
            {
                sb.Append(c);
            }
            else if (c <= 0xFF)
            {
                sb.Append("\\x").Append(((int)c).ToString("x2"));
            }
            else
            {
                sb.Append("\\u").Append(((int)c).ToString("x4"));
            }
        }

        return sb.ToString();
    }

    private static bool NeedsEscape(char c) => char.IsControl(c) || c is '\u2028' or '\u2029' or '\\';
}
