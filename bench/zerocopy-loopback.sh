#!/usr/bin/env bash
# Does a zero-copy send save the sender's copy over loopback? The C copy's sender (write(2) of each
# chunk) next to the same sender with MSG_ZEROCOPY (bench/zerocopy/zcsend.c; IORING_OP_SEND_ZC uses
# the same kernel path), alternating round by round, 1 GiB per transfer, the C receiver pinned to
# CPU 0 and the sender to CPU 1 as the shared harness pins them, the sender's CPU from perf stat.
# Prints one line per transfer and the medians, and writes them to bench/results/zerocopy-loopback-<UTC>.md
# (only when every transfer succeeded).
#
#   bench/zerocopy-loopback.sh [ROUNDS] [CHUNK]          defaults: 5 rounds, 262144
#
# Needs cc, perf, taskset, ss, python3. RAWBULK_SRC names the C copy's source (default: the shared
# harness's servers/rawbulk.c). Run it under the machine's exclusive CPU lock:
# flock -x /tmp/cpu.lock bench/zerocopy-loopback.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}; chunk=${2:-262144}
src=${RAWBULK_SRC:-/work/shared/bench/servers/rawbulk.c}
for t in cc perf taskset ss python3; do command -v $t >/dev/null || { echo "zerocopy-loopback.sh: $t is needed" >&2; exit 2; }; done
[ -f "$src" ] || { echo "zerocopy-loopback.sh: the C copy's source is not at $src (set RAWBULK_SRC)" >&2; exit 2; }
rp=
work=$(mktemp -d /tmp/zerocopy.XXXXXX)
trap '[ -n "$rp" ] && kill "$rp" 2>/dev/null; rm -rf "$work"' EXIT
cc -O2 -Wall -o "$work/rawbulk" "$src"
cc -O2 -Wall -o "$work/zcsend" bench/zerocopy/zcsend.c
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
bytes=$((1 << 30))
taskset -c 0 "$work/rawbulk" recv "$port" "$bytes" "$chunk" >"$work/recv.log" 2>&1 & rp=$!
for _ in $(seq 200); do ss -ltn | grep -q ":$port " && break; sleep 0.05; done
if ! kill -0 "$rp" 2>/dev/null || ! ss -ltn | grep -q ":$port "; then
  echo "zerocopy-loopback.sh: the receiver did not start listening on $port:" >&2; cat "$work/recv.log" >&2; exit 1
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
table=$work/table.md
send() { # WHO(write|zerocopy) -> "seconds cpu_ms", or fails with the sender's error
  local csv=$work/$1.csv secs
  if [ "$1" = write ]; then
    secs=$(perf stat -x, -e task-clock -o "$csv" taskset -c 1 "$work/rawbulk" send "$port" "$bytes" "$chunk" 2>"$work/$1.err" | grep -o '[0-9.]*$' | tail -1)
  else
    secs=$(perf stat -x, -e task-clock -o "$csv" taskset -c 1 "$work/zcsend" "$port" "$bytes" "$chunk" 2>"$work/$1.err" | tail -1)
  fi
  [ -n "$secs" ] || { echo "zerocopy-loopback.sh: the $1 sender failed:" >&2; cat "$work/$1.err" >&2; return 1; }
  echo "$secs $(grep task-clock "$csv" | cut -d, -f1 | cut -d. -f1)"
}
{
  echo "# MSG_ZEROCOPY over loopback ($stamp)"
  echo
  echo "- kernel $(uname -r); 1 GiB per transfer in $chunk-byte chunks; receiver: rawbulk recv on CPU 0; sender on CPU 1"
  echo
  echo "| round | sender | seconds | sender CPU ms | notes |"
  echo "|---:|---|---:|---:|---|"
} >"$table"
cat "$table"
for r in $(seq "$rounds"); do
  read -r secs cpu < <(send write) && [ -n "${secs:-}" ] || exit 1
  echo "| $r | write(2) | $secs | $cpu | |" | tee -a "$table"
  read -r secs cpu < <(send zerocopy) && [ -n "${secs:-}" ] || exit 1
  echo "| $r | MSG_ZEROCOPY | $secs | $cpu | $(tail -1 "$work/zerocopy.err") |" | tee -a "$table"
done
python3 - "$table" <<'PY' | tee -a "$table"
import statistics, sys
rows = [l.split("|") for l in open(sys.argv[1]) if l.startswith("| ") and l.split("|")[1].strip().isdigit()]
for who in ("write(2)", "MSG_ZEROCOPY"):
    s = [float(r[3]) for r in rows if r[2].strip() == who]
    c = [float(r[4]) for r in rows if r[2].strip() == who]
    print(f"\n- {who}: median {statistics.median(s):.3f} s, sender CPU {statistics.median(c):.0f} ms")
PY
out=bench/results/zerocopy-loopback-$stamp.md
cp "$table" "$out"
echo "written to $out" >&2
