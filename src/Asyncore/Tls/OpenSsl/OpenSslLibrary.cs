using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Text;

namespace Asyncore.Tls.OpenSsl;

/// <summary>Whether libssl.so.3 is present, the process-wide ex_data slot, and the error queue as text.</summary>
internal static class OpenSslLibrary
{
    /// <summary>OpenSSL 1.1.1, the first release with TLS 1.3 (OPENSSL_VERSION_NUMBER 0xMNNFFPPS).</summary>
    private const ulong MinimumVersion = 0x1010100fUL;

    private static readonly Lazy<bool> s_available = new(Probe);
    private static readonly Lazy<int> s_sslIndex = new(
        static () => LibCrypto.CryptoGetExNewIndex(LibCrypto.CRYPTO_EX_INDEX_SSL, 0, 0, 0, 0, 0));

    /// <summary>Whether the library loads and is at least 1.1.1; false (never a throw) where it is missing.</summary>
    internal static bool IsAvailable => s_available.Value;

    /// <summary>The ex_data index under which each SSL keeps the GCHandle of its engine (allocated once per process).</summary>
    internal static int SslIndex => s_sslIndex.Value;

    private static bool Probe()
    {
        try
        {
            if (!NativeLibrary.TryLoad(LibSsl.Name, out _) || !NativeLibrary.TryLoad(LibCrypto.Name, out _))
            {
                return false;
            }

            return LibCrypto.OpenSslVersionNum() >= MinimumVersion && SslIndex >= 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return false;
        }
    }

    /// <summary>
    /// Empties this thread's OpenSSL error queue into one line, oldest first, in OpenSSL's own words
    /// ("error:0A00010B:SSL routines::wrong version number"); null when the queue was empty.
    /// </summary>
    internal static unsafe string? DrainErrors()
    {
        StringBuilder? text = null;
        byte* buffer = stackalloc byte[256];
        nuint error;
        while ((error = LibCrypto.ErrGetError()) != 0)
        {
            LibCrypto.ErrErrorStringN(error, buffer, 256);
            text ??= new StringBuilder();
            if (text.Length > 0)
            {
                text.Append("; ");
            }

            text.Append(Marshal.PtrToStringUTF8((nint)buffer));
        }

        return text?.ToString();
    }

    /// <summary>The error of a failed setup call (context or certificate), with the queue's text.</summary>
    internal static AuthenticationException SetupError(string what) =>
        new($"{what} failed: {DrainErrors() ?? "no OpenSSL error was queued"}");
}
