#!/usr/bin/env bash
# Runs ../shared/bench (read-only) from a writable copy, with Asyncore's contenders next to the peers.
#   bench/run-harness.sh                       # every bench, every contender
#   BENCHES=http bench/run-harness.sh          # one bench
# Results land in $BENCH_DIR/results (default /tmp/asyncore-bench/results).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
dir=${BENCH_DIR:-/tmp/asyncore-bench}
if [ ! -d "$dir" ]; then
  cp -r "$shared" "$dir"
  chmod -R u+w "$dir"
fi
export ASYNCORE_ROOT=$root
export EXTRA_CONTENDERS="${EXTRA_CONTENDERS:-$root/bench/contenders/50-asyncore.txt}"
exec "$dir/run-peers.sh" "$@"
