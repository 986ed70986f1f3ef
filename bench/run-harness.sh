#!/usr/bin/env bash
# Runs ../shared/bench (read-only) from a writable copy, with Asyncore's contenders next to the peers.
#   bench/run-harness.sh                       # every bench, every contender
#   BENCHES=http bench/run-harness.sh          # one bench
#   ASYNCORE_BASELINE_REV=914ca25 bench/run-harness.sh   # also an earlier revision's samples, side by side
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
if [ -n "${ASYNCORE_BASELINE_REV:-}" ]; then
  export ASYNCORE_BASELINE=${ASYNCORE_BASELINE:-/tmp/asyncore-baseline}
  rm -rf "$ASYNCORE_BASELINE"
  git -C "$root" archive --format=tar --prefix=./ "$ASYNCORE_BASELINE_REV" | (mkdir -p "$ASYNCORE_BASELINE" && tar -x -C "$ASYNCORE_BASELINE")
  EXTRA_CONTENDERS="$EXTRA_CONTENDERS $root/bench/contenders/51-asyncore-baseline.txt"
fi
exec "$dir/run-peers.sh" "$@"
