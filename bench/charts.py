#!/usr/bin/env python3
"""SVG bar charts of the speed marks, from the shared harness's result files.

Each bar is the median of per-round ratios (the harness measures its contenders in interleaved
rounds, so two figures of one round saw the same machine; see ratios.py), for one pair of
contenders in one test:

    bench/charts.py cpu  OUT.svg RESULTS.tsv [MORE.tsv ...]   # server CPU per request against nginx, h2o, redis-server, Kestrel
    bench/charts.py bulk OUT.svg RESULTS.tsv [MORE.tsv ...]   # bulk throughput against the C read/write copy
    bench/charts.py files OUT.svg FILES.tsv [MORE.tsv ...]    # bench/files.sh: file serving CPU per request against nginx and h2o

A pair whose contenders are not both in the files is left out. The chart names the passes it
was drawn from. Standard library only.
"""
import statistics
import sys
from html import escape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratios import find, rounds  # noqa: E402

# (label, bench, test pattern, contender A, contender B): A's server CPU per request over B's; lower is better.
CPU_BARS = [
    ("HTTP GET /, epoll ÷ nginx 1 worker", "http", "", r"HttpServer 1 loop, epoll$", r"^nginx 1\.22 \(C, 1 worker\)"),
    ("HTTP GET /, io_uring ÷ nginx 1 worker", "http", "", r"HttpServer 1 loop, io_uring$", r"^nginx 1\.22 \(C, 1 worker\)"),
    ("HTTP GET /, epoll ÷ h2o 1 thread", "http", "", r"HttpServer 1 loop, epoll$", r"^h2o"),
    ("HTTP GET /, io_uring ÷ h2o 1 thread", "http", "", r"HttpServer 1 loop, io_uring$", r"^h2o"),
    ("HTTP GET /, epoll ÷ Kestrel minimal API", "http", "", r"^Asyncore HttpServer (sample \(\.NET 10, epoll\)|--loops 1)$", r"^Kestrel minimal API"),

    ("PING -P1, epoll ÷ redis-server", "ping", "ping_inline -c50 -P1$", r"PingServer 1 loop, epoll$", r"^redis-server 7\.0 \(C, epoll\)"),
    ("PING -P1, io_uring ÷ redis-server", "ping", "ping_inline -c50 -P1$", r"PingServer 1 loop, io_uring$", r"^redis-server 7\.0 \(C, epoll\)"),
    ("PING -P16, epoll ÷ redis-server", "ping", "ping_inline -c50 -P16$", r"PingServer 1 loop, epoll$", r"^redis-server 7\.0 \(C, epoll\)"),
    ("PING -P16, io_uring ÷ redis-server", "ping", "ping_inline -c50 -P16$", r"PingServer 1 loop, io_uring$", r"^redis-server 7\.0 \(C, epoll\)"),
    ("PING -P16, epoll ÷ Kestrel ConnectionHandler", "ping", "ping_inline -c50 -P16$", r"^Asyncore PingServer \(\.NET 10, epoll\)$", r"^Kestrel ConnectionHandler"),
]

# Bulk: A's throughput over B's; higher is better.
BULK_BARS = [
    ("4 KiB, epoll ÷ C copy", "bulk", "", r"^Asyncore AsyncChat -> AsyncChat, 4 KiB$", r"^C raw read/write, 4 KiB"),
    ("4 KiB, io_uring ÷ C copy", "bulk", "", r"^Asyncore AsyncChat -> AsyncChat io_uring, 4 KiB$", r"^C raw read/write, 4 KiB"),
    ("256 KiB, epoll ÷ C copy", "bulk", "", r"^Asyncore AsyncChat -> AsyncChat, 256 KiB$", r"^C raw read/write, 256 KiB"),
    ("256 KiB, io_uring ÷ C copy", "bulk", "", r"^Asyncore AsyncChat -> AsyncChat io_uring, 256 KiB$", r"^C raw read/write, 256 KiB"),
]


def ratios(table, bench, test_pattern, pattern_a, pattern_b, metric):
    """Per-round ratios of A over B in every test of the bench whose name matches."""
    import re

    values = []
    for (b, test), by_name in sorted(table.items()):
        if b != bench or not re.search(test_pattern, test):
            continue
        a, other = find(by_name, pattern_a), find(by_name, pattern_b)
        if a is None or other is None:
            continue
        theirs = {(run, n): (rate, cpu) for run, n, rate, cpu in by_name[other]}
        for run, n, rate, cpu in by_name[a]:
            if (run, n) not in theirs:
                continue
            other_rate, other_cpu = theirs[(run, n)]
            if metric == "rate" and other_rate:
                values.append(rate / other_rate)
            elif metric == "cpu" and cpu is not None and other_cpu:
                values.append(cpu / other_cpu)
    return values


def svg(title, subtitle, rows, better):
    """Horizontal bars with a line at 1.0; each row is (label, median, n)."""
    width, left, right, bar, gap, top = 760, 300, 70, 18, 10, 64
    span = max([1.25] + [m * 1.1 for _, m, _ in rows])
    plot = width - left - right
    height = top + len(rows) * (bar + gap) + 44

    def x(v):
        return left + plot * v / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="12" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="12" y="42" fill="#555">{escape(subtitle)}</text>',
    ]
    for i, (label, median, n) in enumerate(rows):
        y = top + i * (bar + gap)
        good = median <= 1.0 if better == "lower" else median >= 1.0
        colour = "#2e7d32" if good else "#c62828"
        out.append(f'<text x="{left - 8}" y="{y + bar - 4}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{x(median) - left:.1f}" height="{bar}" fill="{colour}"/>')
        out.append(f'<text x="{x(median) + 6:.1f}" y="{y + bar - 4}">{median:.2f}× ({n})</text>')
    axis_bottom = top + len(rows) * (bar + gap)
    out.append(f'<line x1="{x(1.0):.1f}" y1="{top - 6}" x2="{x(1.0):.1f}" y2="{axis_bottom}" stroke="#000" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{x(1.0):.1f}" y="{axis_bottom + 16}" text-anchor="middle">1.0×</text>')
    note = "lower is better (green: at or under the peer)" if better == "lower" else "higher is better (green: at or over the C copy)"
    out.append(f'<text x="12" y="{axis_bottom + 34}" fill="#555">{escape(note)}; (n): per-round ratios behind the median</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


TARGETS = [("1k", "1 KiB"), ("64k", "64 KiB"), ("1m", "1 MiB"), ("page", "built-in page")]


def files_rows(paths):
    """Per-pass ratios of server CPU per request from bench/files.sh's TSVs: ours (epoll, io_uring) over nginx and h2o."""
    import csv

    per_pass = {}  # (file, pass, target, server) -> CPU us per request
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for row in csv.reader((line for line in f if not line.startswith("#")), delimiter="\t"):
                if len(row) > 6 and row[6]:
                    per_pass[(path, row[0], row[1], row[2])] = float(row[6])
    rows = []
    for target, name in TARGETS:
        for ours in ("epoll", "io_uring"):
            for peer in ("nginx", "h2o"):
                values = [cpu / per_pass[(p, n, t, peer)] for (p, n, t, s), cpu in per_pass.items()
                          if t == target and s == ours and per_pass.get((p, n, t, peer))]
                if values:
                    rows.append((f"{name}, {ours} ÷ {peer}", statistics.median(values), len(values)))
    return rows


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("cpu", "bulk", "files"):
        sys.exit(__doc__)
    kind, out, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    if kind == "files":
        rows = files_rows(paths)
        if not rows:
            sys.exit("no file-serving runs with both ours and a peer in those files")
        passes = ", ".join(Path(p).stem for p in paths)
        Path(out).write_text(svg("File serving: server CPU per request, Asyncore ÷ peer",
                                 f"median of per-pass ratios, wrk -t1 -c16; {passes}", rows, "lower"), encoding="utf-8")
        for label, median, n in rows:
            print(f"{label}\t{median:.2f}\t({n})")
        return
    table = rounds(paths)
    passes = ", ".join(Path(p).stem for p in paths)
    bars, metric = (CPU_BARS, "cpu") if kind == "cpu" else (BULK_BARS, "rate")
    rows = []
    for label, bench, test, a, b in bars:
        values = ratios(table, bench, test, a, b, metric)
        if values:
            rows.append((label, statistics.median(values), len(values)))
    if not rows:
        sys.exit("no pair of contenders found in those files")
    if kind == "cpu":
        chart = svg("Server CPU per request, Asyncore ÷ peer", f"median of per-round ratios; passes {passes}", rows, "lower")
    else:
        chart = svg("Bulk throughput, Asyncore ÷ the C read/write copy", f"1 GiB through one loopback connection; passes {passes}", rows, "higher")
    Path(out).write_text(chart, encoding="utf-8")
    for label, median, n in rows:
        print(f"{label}\t{median:.2f}\t({n})")


if __name__ == "__main__":
    main()
