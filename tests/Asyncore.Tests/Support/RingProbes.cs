using Asyncore.Polling;

namespace Asyncore.Tests.Support;

/// <summary>What a channel's io_uring transport did, for the tests that check the ring was used.</summary>
internal static class RingProbes
{
    public static bool HasUringReceiver(this Dispatcher channel) => OperatingSystem.IsLinux() && channel.TransportIfMade is RingTransport { HasReceiver: true };

    public static bool UringReceivesLarge(this Dispatcher channel) => OperatingSystem.IsLinux() && channel.TransportIfMade is RingTransport { ReceivesLarge: true };

    public static bool HasUringSender(this Dispatcher channel) => OperatingSystem.IsLinux() && channel.TransportIfMade is RingTransport { HasSender: true };
}
