using System.Globalization;
using System.Text;

namespace Soak;

/// <summary>The markdown tables of a soak run.</summary>
static class Report
{
    private const double MiB = 1024 * 1024;

    /// <summary>Memory, descriptors and Post latency per backend, with the verdicts.</summary>
    public static string Table(IEnumerable<(ServerResult Server, ChurnResult? Churn)> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| backend | connections served | live heap first → last (MiB) | heap slope (KiB/min) | RSS first → last (MiB) | RSS slope (KiB/min) | fds first → last | fd slope (/min) | Post p50 / p99 / p99.9 / max (µs) | p99.9 of Posts no GC ran through (µs) | control: idle loop's Post p99.9 (µs) | flat | Post p99.9 ≤ 1 ms |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach ((ServerResult s, _) in rows)
        {
            string flat = s.Flat ? "yes" : "no";
            if (s.SamplesAfterWarmup < Verdict.SamplesForVerdict)
            {
                flat += $" ({s.SamplesAfterWarmup} samples: indicative)";
            }

            sb.AppendLine(Invariant($"| {s.Backend} | {s.Accepted:N0} | {s.Heap.First / MiB:F2} → {s.Heap.Last / MiB:F2} | {s.Heap.SlopePerMinute / 1024:+0.0;-0.0} | {s.Rss.First / MiB:F1} → {s.Rss.Last / MiB:F1} | {s.Rss.SlopePerMinute / 1024:+0;-0} | {s.Descriptors.First:F0} → {s.Descriptors.Last:F0} | {s.Descriptors.SlopePerMinute:+0.00;-0.00} | {s.PostP50:F0} / {s.PostP99:F0} / {s.PostP999:F0} / {s.PostMax:F0} | {s.PostP999WithoutCollection:F0} | {s.ControlPostP999:F0} | {flat} | {(s.PostWithinMark ? "yes" : "no")} |"));
        }

        return sb.ToString();
    }

    /// <summary>What the churn did and how each kind of connection ended.</summary>
    public static string Traffic(IEnumerable<(ServerResult Server, ChurnResult? Churn)> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| backend | churn rate (conn/s) | requests answered / sent (p50 / p99 ms) | lines answered (server) | idle reaped / opened (after s) | left mid-line | hung up before the answer | client failures (cut when stopped) | server errors | Posts ≥ 1 ms (of them with no GC during the wait) | control: idle loop's Posts ≥ 1 ms | Posts held by the sampler's collection (longest µs) | loop stopped after (s) |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach ((ServerResult s, ChurnResult? c) in rows)
        {
            string client = c is null
                ? Invariant($"| n/a | n/a | {s.Answered:N0} | {s.IdleClosed:N0} / n/a | n/a | n/a | n/a ")
                : Invariant($"| {c.Rate:N0} | {c.RequestsOk:N0} / {c.Requests:N0} ({c.RequestP50Ms:F2} / {c.RequestP99Ms:F2}) | {s.Answered:N0} | {c.IdleReaped:N0} / {c.Idle:N0} ({c.IdleReapMinSeconds:F2}–{c.IdleReapMaxSeconds:F2}) | {c.Aborted:N0} | {c.HungUp:N0} | {c.Failures + c.Skipped:N0}{(c.CutAtEnd > 0 ? $" ({c.CutAtEnd:N0})" : "")} ");
            sb.AppendLine(Invariant($"| {s.Backend} {client}| {s.Errors:N0} | {s.PostsFromOneMs:N0} of {s.PostsMeasured:N0} ({s.PostsFromOneMsWithoutCollection:N0}){(s.Posts > s.PostsRun ? $", {s.Posts - s.PostsRun:N0} never ran" : "")} | {s.ControlPostsFromOneMs:N0} of {s.ControlPostsMeasured:N0} | {s.PostsDuringSampling:N0} ({s.PostsDuringSamplingMax:F0}) | {(s.LoopStopped ? s.LoopStopSeconds.ToString("F2", CultureInfo.InvariantCulture) : "did not stop")} |"));
        }

        foreach ((ServerResult s, ChurnResult? c) in rows)
        {
            if (c?.FirstError is { } ce)
            {
                sb.AppendLine(Invariant($"\n{s.Backend}: first client failure: {ce}"));
            }

            if (s.FirstError is { } se)
            {
                sb.AppendLine(Invariant($"\n{s.Backend}: first server error: {se}"));
            }

            if (s.EndedEarly is { } early)
            {
                sb.AppendLine(Invariant($"\n{s.Backend}: sampling ended early: {early}"));
            }

            if (s.LoopError is { } le)
            {
                sb.AppendLine(Invariant($"\n{s.Backend}: the loop failed: {le}"));
            }
        }

        return sb.ToString();
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
