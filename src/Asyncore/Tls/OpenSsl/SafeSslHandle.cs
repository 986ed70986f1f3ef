using System.Runtime.InteropServices;

namespace Asyncore.Tls.OpenSsl;

/// <summary>
/// An SSL* (which owns its two memory BIOs) and the GCHandle its ex_data slot points at, released together,
/// so an engine that is never disposed still frees both when it is collected.
/// </summary>
internal sealed class SafeSslHandle : SafeHandle
{
    private GCHandle _owner;

    public SafeSslHandle(nint ssl, object owner) : base(0, ownsHandle: true)
    {
        SetHandle(ssl);
        // Weak: the engine is alive whenever OpenSSL can call back (only inside the engine's own calls),
        // and a strong handle would keep an abandoned engine, and its SSL, alive for ever.
        _owner = GCHandle.Alloc(owner, GCHandleType.Weak);
    }

    /// <summary>The value stored in the SSL's ex_data slot.</summary>
    public nint OwnerCookie => GCHandle.ToIntPtr(_owner);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        LibSsl.SslFree(handle);
        if (_owner.IsAllocated)
        {
            _owner.Free();
        }

        return true;
    }
}
