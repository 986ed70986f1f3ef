using System.Text.Json;
using System.Text.Json.Serialization;
using Asyncore;

namespace Soak;

/// <summary>The lines a child process prints for the driver; everything else it prints goes to its log.</summary>
static class Wire
{
    public const string Listening = "SOAK listening ";
    public const string Result = "SOAK result ";
    public const string EndedEarly = "SOAK ended early: ";

    private static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static string Encode<T>(T value) => JsonSerializer.Serialize(value, Json);

    public static T Decode<T>(string json) => JsonSerializer.Deserialize<T>(json, Json) ?? throw new FormatException("empty result");

    public static PollerKind Backend(string name) => name switch
    {
        "epoll" => PollerKind.Epoll,
        "poll" => PollerKind.Poll,
        "select" => PollerKind.Select,
        "io_uring" => PollerKind.IoUring,
        _ => throw new ArgumentException($"unknown backend '{name}' (epoll, poll, select or io_uring)"),
    };
}

/// <summary>What a server reports when it stops: counters, the three trends after warm-up, Post latency after warm-up (µs).</summary>
sealed record ServerResult(
    string Backend,
    double Seconds,
    double WarmupSeconds,
    int SamplesAfterWarmup,
    long Accepted,
    long Answered,
    long IdleClosed,
    long PeerClosed,
    long Errors,
    string? FirstError,
    long OpenAtEnd,
    Trend Heap,
    Trend Rss,
    Trend Descriptors,
    long Posts,
    long PostsRun,
    long PostsMeasured,
    double PostP50,
    double PostP99,
    double PostP999,
    double PostMax,
    long PostsFromOneMs,
    double PostP999WithoutCollection,
    long PostsFromOneMsWithoutCollection,
    long ControlPostsMeasured,
    double ControlPostP999,
    long ControlPostsFromOneMs,
    long PostsDuringSampling,
    double PostsDuringSamplingMax,
    double WarmupPostMax,
    bool LoopStopped,
    double LoopStopSeconds,
    string? LoopError,
    string? EndedEarly)
{
    public bool Flat => Heap.Flat && Rss.Flat && Descriptors.Flat && EndedEarly is null;

    public bool PostWithinMark => PostP999 <= Verdict.PostP999Microseconds && PostsRun == Posts;
}

/// <summary>What the churn client reports: how each kind of connection ended.</summary>
sealed record ChurnResult(
    double Seconds,
    double Rate,
    long Launched,
    long Skipped,
    long Requests,
    long RequestsOk,
    long BadReplies,
    long Timeouts,
    long ConnectErrors,
    long OtherErrors,
    string? FirstError,
    long Idle,
    long IdleReaped,
    long IdleEarly,
    long IdleNotReaped,
    long CutAtEnd,
    double IdleReapMinSeconds,
    double IdleReapMaxSeconds,
    long Aborted,
    long HungUp,
    double RequestP50Ms,
    double RequestP99Ms)
{
    public long Failures => BadReplies + Timeouts + ConnectErrors + OtherErrors + IdleEarly + IdleNotReaped;
}
