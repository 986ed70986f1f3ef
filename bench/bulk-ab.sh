#!/usr/bin/env bash
# Bulk throughput of two builds of the Bulk sample, alternating round by round, 1 GiB per transfer,
# receiver pinned to CPU 0 and sender to CPU 1 (as the shared harness pins them), with each side's
# CPU time (perf stat task-clock). Prints one line per transfer and the medians per case; ratios are
# baseline seconds / today's seconds (higher: today is faster).
#
#   bench/bulk-ab.sh BASE_REV [ROUNDS] [KINDS] [CHUNKS]
#   bench/bulk-ab.sh 84b9da4 5 "epoll io_uring" "4096 262144"
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/bulk-ab.sh BASE_REV [ROUNDS] [KINDS] [CHUNKS]}
rounds=${2:-5}; kinds=${3:-"epoll io_uring"}; chunks=${4:-"4096 262144"}
command -v perf >/dev/null || { echo "perf is needed (Debian: linux-perf)" >&2; exit 2; }
work=$(mktemp -d /tmp/bulk-ab.XXXXXX)
trap 'git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/src" "$base"
dotnet publish "$work/src/samples/Bulk" -c Release -o "$work/base" -v q --nologo --disable-build-servers >/dev/null
dotnet publish samples/Bulk -c Release -o "$work/now" -v q --nologo --disable-build-servers >/dev/null

one() { # BUILD CHUNK KIND
  local bin=$work/$1/Bulk port rp pp secs
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  taskset -c 0 "$bin" recv "$port" $((1 << 30)) "$2" "$3" >/dev/null 2>&1 &
  rp=$!
  for _ in $(seq 200); do ss -ltn | grep -q ":$port " && break; sleep 0.05; done
  perf stat -x, -e task-clock -p "$rp" -o "$work/recv.csv" & pp=$!
  sleep 0.2
  secs=$(taskset -c 1 perf stat -x, -e task-clock -o "$work/send.csv" "$bin" send "$port" $((1 << 30)) "$2" "$3")
  kill -INT "$pp"; wait "$pp" || true; kill "$rp"; wait "$rp" 2>/dev/null || true
  printf '%s\t%s\t%s\t%s\t%.0f\t%.0f\n' "$1" "$3" "$2" "$secs" \
    "$(awk -F, '/task-clock/{print $1}' "$work/recv.csv")" "$(awk -F, '/task-clock/{print $1}' "$work/send.csv")"
}

echo -e "build\tbackend\tchunk\tseconds\treceiver_cpu_ms\tsender_cpu_ms" | tee "$work/all.tsv"
for _ in $(seq "$rounds"); do
  for k in $kinds; do for c in $chunks; do for b in now base; do one "$b" "$c" "$k" | tee -a "$work/all.tsv"; done; done; done
done
python3 - "$work/all.tsv" "$base" <<'PY'
import csv, statistics as st, sys, collections
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
cases = collections.OrderedDict()
for r in rows:
    cases.setdefault((r["backend"], r["chunk"]), {"now": [], "base": []})[r["build"]].append(r)
print(f"\n| backend | chunk | today s | {sys.argv[2]} s | throughput today / {sys.argv[2]} | receiver CPU ms | sender CPU ms |")
print("|---|---:|---:|---:|---:|---:|---:|")
med = lambda rs, k: st.median(float(r[k]) for r in rs)
for (k, c), d in cases.items():
    n, b = d["now"], d["base"]
    print(f"| {k} | {int(c)//1024} KiB | {med(n,'seconds'):.3f} | {med(b,'seconds'):.3f} | {med(b,'seconds')/med(n,'seconds'):.2f} | "
          f"{med(n,'receiver_cpu_ms'):.0f} / {med(b,'receiver_cpu_ms'):.0f} | {med(n,'sender_cpu_ms'):.0f} / {med(b,'sender_cpu_ms'):.0f} |")
PY
