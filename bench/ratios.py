#!/usr/bin/env python3
"""Per-round ratios of server CPU per request from the shared harness's TSV files.

The harness measures its contenders in interleaved rounds, so two contenders' figures from the same
round saw the same machine; their ratio cancels most of the drift of a shared VM. This prints, for
each test and each pair asked for, the median of the per-round ratios and the ratios themselves.

    bench/ratios.py RESULTS.tsv [MORE.tsv ...] --pair 'NAME A' 'NAME B' [--pair ...] [--metric cpu|rate]

NAME is a regular expression matched against the contender names (the first match is used);
--metric cpu (default) compares server CPU microseconds per request (lower is better), rate the
figure itself (requests per second, or GB/s for bulk; higher is better).
"""
import argparse
import re
import statistics
from collections import defaultdict

# Columns of a harness TSV row (run-peers.sh): run, bench, test, contender, value, unit,
# server CPU %, client CPU %, server CPU us/op, notes, 2-core factor.
RUN, BENCH, TEST, NAME, VALUE, CPU_US = 0, 1, 2, 3, 4, 8


def rounds(paths):
    """{(bench, test): {name: [(run, round, rate, cpu_us)]}}: the n-th figure of a name in a run is round n."""
    table = defaultdict(lambda: defaultdict(list))
    for path in paths:
        seen = defaultdict(int)
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                cols = line.rstrip("\n").split("\t")
                if len(cols) <= VALUE or not cols[VALUE]:
                    continue
                key = (cols[BENCH], cols[TEST])
                n = seen[(key, cols[NAME])]
                seen[(key, cols[NAME])] += 1
                cpu = float(cols[CPU_US]) if len(cols) > CPU_US and cols[CPU_US] else None
                table[key][cols[NAME]].append((cols[RUN], n, float(cols[VALUE]), cpu))
    return table


def find(names, pattern):
    for name in names:
        if re.search(pattern, name):
            return name
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tsv", nargs="+")
    parser.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"))
    parser.add_argument("--metric", choices=["cpu", "rate"], default="cpu")
    args = parser.parse_args()
    table = rounds(args.tsv)
    for (bench, test), by_name in sorted(table.items()):
        for pa, pb in args.pair:
            a, b = find(by_name, pa), find(by_name, pb)
            if a is None or b is None:
                continue
            fb = {(run, n): (rate, cpu) for run, n, rate, cpu in by_name[b]}
            values = []
            for run, n, rate, cpu in by_name[a]:
                if (run, n) in fb:
                    other_rate, other_cpu = fb[(run, n)]
                    if args.metric == "rate":
                        values.append(rate / other_rate)
                    elif cpu is not None and other_cpu:
                        values.append(cpu / other_cpu)
            if values:
                shown = ", ".join(f"{v:.2f}" for v in values)
                print(f"{bench}\t{test}\t{a} / {b}\t{statistics.median(values):.2f}\t({shown})")


if __name__ == "__main__":
    main()
