#!/usr/bin/env bash
# Bulk throughput of the Bulk sample (epoll and io_uring) next to the C read/write copy at the same
# chunk, alternating round by round: 1 GiB per transfer, receiver pinned to CPU 0 and sender to CPU 1
# (as the shared harness pins them), each side's CPU time from perf stat task-clock. Prints one line
# per transfer, then ours / C per round (throughput: C seconds / our seconds, higher is better) and
# the medians, and writes the same to bench/results/bulk-vs-c-<UTC>.md.
#
#   bench/bulk-vs-c.sh [ROUNDS] [CHUNKS] [KINDS]
#   bench/bulk-vs-c.sh 5 "4096 262144" "epoll io_uring"
#
# RAWBULK_SRC names the C copy's source (default: the shared harness's servers/rawbulk.c).
# Run it under the machine's exclusive CPU lock: flock -x /tmp/cpu.lock bench/bulk-vs-c.sh 5
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}; chunks=${2:-"4096 262144"}; kinds=${3:-"epoll io_uring"}
src=${RAWBULK_SRC:-/work/shared/bench/servers/rawbulk.c}
command -v perf >/dev/null || { echo "perf is needed (Debian: linux-perf)" >&2; exit 2; }
[ -f "$src" ] || { echo "the C copy's source is not at $src (set RAWBULK_SRC)" >&2; exit 2; }
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/bulk-vs-c-$stamp.md
work=$(mktemp -d /tmp/bulk-vs-c.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -o "$work/rawbulk" "$src"
dotnet publish samples/Bulk -c Release -o "$work/ours" -v q --nologo --disable-build-servers >/dev/null
bytes=$((1 << 30))

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

one() { # WHO(c|epoll|io_uring) CHUNK
  local port rp pp secs
  port=$(free_port)
  if [ "$1" = c ]; then
    taskset -c 0 "$work/rawbulk" recv "$port" "$bytes" "$2" >/dev/null 2>&1 &
  else
    taskset -c 0 "$work/ours/Bulk" recv "$port" "$bytes" "$2" "$1" >/dev/null 2>&1 &
  fi
  rp=$!
  for _ in $(seq 200); do ss -ltn | grep -q ":$port " && break; sleep 0.05; done
  perf stat -x, -e task-clock -p "$rp" -o "$work/recv.csv" & pp=$!
  sleep 0.2
  if [ "$1" = c ]; then
    secs=$(taskset -c 1 perf stat -x, -e task-clock -o "$work/send.csv" "$work/rawbulk" send "$port" "$bytes" "$2")
  else
    secs=$(taskset -c 1 perf stat -x, -e task-clock -o "$work/send.csv" "$work/ours/Bulk" send "$port" "$bytes" "$2" "$1")
  fi
  kill -INT "$pp"; wait "$pp" || true; kill "$rp"; wait "$rp" 2>/dev/null || true
  printf '%s\t%s\t%s\t%s\t%.0f\t%.0f\n' "$r" "$1" "$2" "$secs" \
    "$(awk -F, '/task-clock/{print $1}' "$work/recv.csv")" "$(awk -F, '/task-clock/{print $1}' "$work/send.csv")"
}

echo -e "round\twho\tchunk\tseconds\treceiver_cpu_ms\tsender_cpu_ms" | tee "$work/all.tsv"
for r in $(seq "$rounds"); do
  for c in $chunks; do
    for who in c $kinds; do one "$who" "$c" | tee -a "$work/all.tsv"; done
  done
done

{
  echo "# Bulk against the C copy ($stamp)"
  echo
  echo "\`bench/bulk-vs-c.sh $rounds \"$chunks\" \"$kinds\"\` at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src samples || echo ' (with uncommitted changes)'),"
  echo "1 GiB per transfer, receiver on CPU 0, sender on CPU 1, kernel $(uname -r); C copy: $src"
  echo
  echo '```'
  cat "$work/all.tsv"
  echo '```'
  python3 - "$work/all.tsv" <<'PY'
import csv, statistics as st, sys, collections
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = collections.defaultdict(dict)
for r in rows:
    by[(r["round"], r["chunk"])][r["who"]] = r
kinds = [w for w in dict.fromkeys(r["who"] for r in rows) if w != "c"]
chunks = list(dict.fromkeys(r["chunk"] for r in rows))
print("\nours / C, throughput (C seconds / our seconds), per round and median:\n")
print("| backend | chunk | per round | median | C s | ours s | receiver CPU ms ours / C | sender CPU ms ours / C |")
print("|---|---:|---|---:|---:|---:|---:|---:|")
med = lambda xs: st.median(xs) if xs else float("nan")
for k in kinds:
    for c in chunks:
        pairs = [(d["c"], d[k]) for (rd, ch), d in sorted(by.items(), key=lambda kv: int(kv[0][0])) if ch == c and "c" in d and k in d]
        ratios = [float(cr["seconds"]) / float(o["seconds"]) for cr, o in pairs]
        f = lambda rs, key: med([float(x[key]) for x in rs])
        cs, os_ = [p[0] for p in pairs], [p[1] for p in pairs]
        print(f"| {k} | {int(c)//1024} KiB | {', '.join(f'{x:.2f}' for x in ratios)} | **{med(ratios):.2f}** | "
              f"{f(cs,'seconds'):.3f} | {f(os_,'seconds'):.3f} | {f(os_,'receiver_cpu_ms'):.0f} / {f(cs,'receiver_cpu_ms'):.0f} | "
              f"{f(os_,'sender_cpu_ms'):.0f} / {f(cs,'sender_cpu_ms'):.0f} |")
PY
} > "$out"
sed -n '/^ours/,$p' "$out"
echo "written to $out"
