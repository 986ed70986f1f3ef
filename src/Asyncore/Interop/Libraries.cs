namespace Asyncore.Interop;

/// <summary>Native library names used by the interop declarations.</summary>
internal static class Libraries
{
    /// <summary>The C library; the runtime resolves "libc" to the platform's libc.so.6 / libSystem.</summary>
    internal const string Libc = "libc";
}
