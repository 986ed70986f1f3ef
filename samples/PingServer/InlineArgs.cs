namespace Asyncore.Samples.Ping;

/// <summary>
/// Splits an inline command into arguments the way Redis's sdssplitargs does, decoding in place
/// (an argument is never longer than its text): arguments are separated by runs of blanks;
/// "double quotes" take \n \r \t \b \a, \xHH and \ before any other character; 'single quotes'
/// take only \'; a closing quote must be followed by a blank or the end of the line; an unclosed
/// quote or text straight after a closing quote makes the whole line invalid. A quote may also
/// start in the middle of an argument (a"b c" is one argument: ab c). The line ends at a NUL, as
/// it does for the C string Redis splits.
/// </summary>
public ref struct InlineArgs
{
    private readonly Span<byte> _line;
    private int _read;
    private int _write;

    public InlineArgs(Span<byte> line)
    {
        int nul = line.IndexOf((byte)0);
        _line = nul >= 0 ? line[..nul] : line;
    }

    /// <summary>Whether the line had an unclosed quote or a closing quote followed by more text.</summary>
    public bool Unbalanced { get; private set; }

    /// <summary>The next argument; false at the end of the line or once the line turned out unbalanced.</summary>
    public bool Next(out ReadOnlySpan<byte> argument)
    {
        argument = default;
        if (Unbalanced)
        {
            return false;
        }

        while (_read < _line.Length && IsSpace(_line[_read]))
        {
            _read++;
        }

        if (_read >= _line.Length)
        {
            return false;
        }

        int start = _write;
        bool inDouble = false, inSingle = false, done = false;
        while (!done)
        {
            byte c = At(_read);
            if (inDouble || inSingle)
            {
                byte quote = inDouble ? (byte)'"' : (byte)'\'';
                if (inDouble && c == '\\' && At(_read + 1) == 'x' && IsHex(At(_read + 2)) && IsHex(At(_read + 3)))
                {
                    Put((byte)((Hex(At(_read + 2)) << 4) | Hex(At(_read + 3))));
                    _read += 3;
                }
                else if (inDouble && c == '\\' && At(_read + 1) != 0)
                {
                    _read++;
                    Put(At(_read) switch
                    {
                        (byte)'n' => (byte)'\n',
                        (byte)'r' => (byte)'\r',
                        (byte)'t' => (byte)'\t',
                        (byte)'b' => (byte)'\b',
                        (byte)'a' => (byte)'\a',
                        byte other => other,
                    });
                }
                else if (inSingle && c == '\\' && At(_read + 1) == '\'')
                {
                    _read++;
                    Put((byte)'\'');
                }
                else if (c == quote)
                {
                    // The closing quote must be followed by a blank or the end of the line.
                    if (At(_read + 1) != 0 && !IsSpace(At(_read + 1)))
                    {
                        return Fail();
                    }

                    done = true;
                }
                else if (c == 0)
                {
                    return Fail(); // no closing quote
                }
                else
                {
                    Put(c);
                }
            }
            else
            {
                switch (c)
                {
                    case (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or 0:
                        done = true;
                        break;
                    case (byte)'"':
                        inDouble = true;
                        break;
                    case (byte)'\'':
                        inSingle = true;
                        break;
                    default:
                        Put(c);
                        break;
                }
            }

            if (At(_read) != 0)
            {
                _read++;
            }
        }

        argument = _line[start.._write];
        return true;
    }

    private readonly byte At(int i) => i < _line.Length ? _line[i] : (byte)0;

    // Writes never overtake reads: every character read yields at most one written.
    private void Put(byte b) => _line[_write++] = b;

    private bool Fail()
    {
        Unbalanced = true;
        return false;
    }

    /// <summary>C's isspace: space, \t, \n, \v, \f, \r.</summary>
    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r';

    private static bool IsHex(byte b) => char.IsAsciiHexDigit((char)b);

    private static int Hex(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;
}
