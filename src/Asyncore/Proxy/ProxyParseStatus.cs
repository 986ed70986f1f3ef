namespace Asyncore.Proxy;

/// <summary>Where a <see cref="ProxyHeaderParser"/> is after the bytes it was given.</summary>
public enum ProxyParseStatus
{
    /// <summary>Every byte so far fits a header that is not finished yet: feed more.</summary>
    NeedMore,

    /// <summary>The header is complete (<see cref="ProxyHeaderParser.Header"/>); bytes after it were not taken.</summary>
    Complete,

    /// <summary>The bytes are not a valid header (<see cref="ProxyHeaderParser.Error"/>): close the connection without an answer.</summary>
    Invalid,
}
