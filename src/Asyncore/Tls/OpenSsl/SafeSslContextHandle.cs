using System.Runtime.InteropServices;

namespace Asyncore.Tls.OpenSsl;

/// <summary>An SSL_CTX*. OpenSSL counts references: each SSL made from it holds one, so freeing here is safe while sessions live.</summary>
internal sealed class SafeSslContextHandle : SafeHandle
{
    public SafeSslContextHandle(nint handle) : base(0, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibSsl.SslCtxFree(handle);
        return true;
    }
}
