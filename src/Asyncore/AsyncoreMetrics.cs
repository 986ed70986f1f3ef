using System.Diagnostics.Metrics;

namespace Asyncore;

/// <summary>
/// The library's <see cref="Meter"/> and the names of its instruments, for
/// <see cref="MeterListener"/>, dotnet-counters (<c>dotnet-counters monitor --counters Asyncore</c>)
/// or OpenTelemetry (<c>AddMeter(AsyncoreMetrics.MeterName)</c>). Recording costs almost nothing
/// while nobody listens.
/// </summary>
public static class AsyncoreMetrics
{
    /// <summary>The meter's name: "Asyncore".</summary>
    public const string MeterName = "Asyncore";

    /// <summary>Up-down counter: channels in maps now.</summary>
    public const string OpenChannels = "asyncore.channels.open";

    /// <summary>Counter: connections accepted by listening channels.</summary>
    public const string AcceptedConnections = "asyncore.connections.accepted";

    /// <summary>Counter: bytes received by channels, in bytes.</summary>
    public const string BytesReceived = "asyncore.bytes.received";

    /// <summary>Counter: bytes sent by channels, in bytes.</summary>
    public const string BytesSent = "asyncore.bytes.sent";

    /// <summary>Counter: terminators found by <see cref="AsyncChat"/> channels (messages framed).</summary>
    public const string MessagesFramed = "asyncore.messages.framed";

    /// <summary>Counter: exceptions handed to a channel's HandleError.</summary>
    public const string Errors = "asyncore.errors";

    /// <summary>Counter: times a listener paused accepting because the process ran out of descriptors or memory (one per episode).</summary>
    public const string AcceptPauses = "asyncore.accept.pauses";

    private static readonly Meter Meter = new(MeterName, typeof(AsyncoreMetrics).Assembly.GetName().Version?.ToString());

    internal static readonly UpDownCounter<long> Open = Meter.CreateUpDownCounter<long>(OpenChannels, "{channel}", "Channels in maps now");
    internal static readonly Counter<long> Accepted = Meter.CreateCounter<long>(AcceptedConnections, "{connection}", "Connections accepted");
    internal static readonly Counter<long> Received = Meter.CreateCounter<long>(BytesReceived, "By", "Bytes received");
    internal static readonly Counter<long> Sent = Meter.CreateCounter<long>(BytesSent, "By", "Bytes sent");
    internal static readonly Counter<long> Messages = Meter.CreateCounter<long>(MessagesFramed, "{message}", "Terminators found");
    internal static readonly Counter<long> AcceptPausesCounter = Meter.CreateCounter<long>(AcceptPauses, "{pause}", "Times accepting paused for want of descriptors or memory");
    internal static readonly Counter<long> Failures = Meter.CreateCounter<long>(Errors, "{error}", "Exceptions handed to HandleError");
}
