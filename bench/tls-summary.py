#!/usr/bin/env python3
"""Markdown tables from bench/tls-bench.sh result files (bench/results/tls-*.tsv).

usage: python3 bench/tls-summary.py bench/results/tls-A.tsv [bench/results/tls-B.tsv ...]

One table per scenario (keep-alive, new handshakes): per contender the median rate and the
median server CPU per request (or handshake) over every round of every file, the median over
the "quiet" rounds (2-core factor >= QUIET_MIN), and the ratios to the reference contenders
(REFS, regexes; default nginx and Kestrel). A ratio is the median of the per-round ratios
(contender's figure / reference's figure in the same run and round), so that the machine's
drift between rounds cancels. Then the issue's targets for the contenders matching OURS.
"""
import os
import re
import statistics
import sys
from collections import OrderedDict

QUIET_MIN = float(os.environ.get("QUIET_MIN", "1.7"))
REFS = os.environ.get("REFS", "nginx Kestrel").split()
OURS = os.environ.get("OURS", "Asyncore")
# (scenario prefix, reference, limit on CPU per operation as a ratio to the reference)
TARGETS = [("keep-alive", "nginx", 1.0), ("keep-alive", "Kestrel", 0.5), ("new handshakes", "nginx", 1.0)]


def fnum(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def fmt(v, digits=1):
    if v is None:
        return "-"
    if v >= 1000:
        return "{:,.0f}".format(v)
    return "%.*f" % (digits, v)


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def read(paths):
    headers, groups, runs = OrderedDict(), OrderedDict(), []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line:
                    continue
                if line.startswith("# "):
                    key, _, val = line[2:].partition("\t")
                    if key == "columns":
                        continue
                    headers.setdefault(key, [])
                    if val not in headers[key]:
                        headers[key].append(val)
                    if key == "run":
                        runs.append(val)
                    continue
                cols = line.split("\t") + [""] * 12
                run, rnd, scen, name, value, unit, scpu, ccpu, us, ops, note, par = cols[:12]
                g = groups.setdefault(scen, OrderedDict())
                g.setdefault(name, []).append(dict(
                    key=(run, rnd), value=fnum(value), unit=unit, scpu=fnum(scpu), ccpu=fnum(ccpu),
                    us=fnum(us), note=note, par=fnum(par)))
    return headers, groups, runs


def ratio(rows, ref_rows, field):
    """Median over rounds of rows[field] / ref_rows[field] in the same run and round."""
    ref = {r["key"]: r[field] for r in ref_rows if r[field]}
    vals = [r[field] / ref[r["key"]] for r in rows if r[field] is not None and r["key"] in ref]
    return (median(vals), vals) if vals else (None, [])


def find(peers, pattern):
    return next((name for name in peers if re.search(pattern, name, re.I)), None)


def main(paths):
    headers, groups, runs = read(paths)
    out = ["## TLS side by side (%d run%s: %s)" % (len(runs), "" if len(runs) == 1 else "s", ", ".join(runs)), ""]
    for key in ("date", "machine", "pinning", "versions", "certificate", "params", "build failures"):
        if key in headers:
            vals = headers[key]
            out.append("- %s: %s" % (key, vals[0] if len(vals) == 1 else " | ".join(vals)))
    out.append("")
    target_lines = []
    for scen, peers in groups.items():
        unit = next((r["unit"] for rows in peers.values() for r in rows if r["unit"]), "")
        op = "handshake" if unit.startswith("handshake") else "request"
        refs = [(p, find(peers, p)) for p in REFS]
        refs = [(p, n) for p, n in refs if n]
        out.append("### " + scen)
        out.append("")
        head = ["contender", unit + " (median)", "server CPU µs/%s (median)" % op, "quiet median"]
        for p, _ in refs:
            head += ["CPU ÷ %s" % p, "%s ÷ %s" % (unit, p)]
        head += ["server CPU %", "client CPU %", "values", "notes"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|---|" + "---:|" * (len(head) - 2) + "---|")
        for name, rows in peers.items():
            good = [r for r in rows if r["value"] is not None]
            quiet = [r["us"] for r in good if r["par"] is not None and r["par"] >= QUIET_MIN]
            cells = [name, fmt(median(r["value"] for r in good)), fmt(median(r["us"] for r in good), 2),
                     fmt(median(quiet), 2) if quiet else "-"]
            for p, ref in refs:
                cpu, _ = ratio(good, peers[ref], "us")
                rate, _ = ratio(good, peers[ref], "value")
                cells += [fmt(cpu, 2), fmt(rate, 2)]
            notes = sorted({r["note"] for r in rows if r["note"]})
            cells += [fmt(median(r["scpu"] for r in good), 0), fmt(median(r["ccpu"] for r in good), 0),
                      str(len(good)), "; ".join(notes) if notes else ""]
            out.append("| " + " | ".join(cells) + " |")
            if re.search(OURS, name, re.I):
                for prefix, ref_pattern, limit in TARGETS:
                    ref = find(peers, ref_pattern)
                    if not scen.startswith(prefix) or not ref:
                        continue
                    cpu, vals = ratio(good, peers[ref], "us")
                    verdict = "no figure" if cpu is None else ("met" if cpu <= limit else "missed")
                    per_round = ", ".join("%.3f" % v for v in vals)
                    target_lines.append("| %s | %s: CPU per %s ≤ %.1f× %s | %s | %s | %s |" % (
                        name, prefix, op, limit, ref_pattern, fmt(cpu, 2) + "×" if cpu is not None else "-",
                        per_round or "-", verdict))
        out.append("")
    if target_lines:
        out += ["### Targets (" + OURS + ")", "", "| contender | target | median ratio | per round | |", "|---|---|---:|---|---|"]
        out += target_lines
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
