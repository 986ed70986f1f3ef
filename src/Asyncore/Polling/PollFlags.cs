namespace Asyncore.Polling;

/// <summary>
/// Readiness bits shared by every backend. The values are Linux's POLL* and EPOLL* bits, which are
/// the same for these six, so poll(2) and epoll(7) results need no translation.
/// </summary>
[Flags]
internal enum PollFlags : short
{
    None = 0,
    In = 0x001,
    Pri = 0x002,
    Out = 0x004,
    Err = 0x008,
    Hup = 0x010,
    Nval = 0x020,
}
