#!/usr/bin/env bash
# files.sh -- file serving side by side: the HTTP sample on epoll and io_uring next to nginx
# (1 worker, sendfile on) and h2o (1 thread), the same folder of 1k.bin, 64k.bin, 1m.bin and the
# sample's built-in page, servers pinned to CPU 0, wrk -t1 -c16 on CPU 1 (see bench/files.py).
#
#   bench/files.sh                         two passes, 10 s runs (about 9 minutes)
#   DURATION=2 PASSES=1 WARMUP=1 JIT_WARMUP=4 bench/files.sh    a short smoke pass
#   bench/files.sh --summary bench/results/files-*.tsv           the tables again
#
# Knobs (defaults in brackets): PASSES [2]  DURATION [10 s, measured run]  WARMUP [3 s before each
# run]  JIT_WARMUP [15 s per .NET server at start]  CONNS [16]  SERVER_CPU [0]  CLIENT_CPU [1]
# SERVERS ["epoll io_uring nginx h2o"]  TARGETS ["1k 64k 1m page"]  BASE_PORT [18400]  STRACE [0; 1: system
# calls per request of each server, from strace -c in a 3 s run of its own after its pass-1 run (needs strace)]
# BUILD [/tmp/asyncore-files-bench/http: where the sample is published]  NO_BUILD [0]
#
# Needs nginx, h2o, wrk, curl, taskset (Debian 12: apt-get install -y nginx-light h2o wrk curl).
# Results: bench/results/files-<UTC time>.tsv and .md. Everything binds 127.0.0.1, every run has a
# -d, and every server started here is stopped at exit, by its own process group.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export BUILD=${BUILD:-/tmp/asyncore-files-bench/http}
if [ "${1:-}" = --summary ]; then exec python3 "$root/bench/files.py" "$@"; fi
for t in nginx h2o wrk curl taskset; do
  command -v "$t" >/dev/null || { echo "files.sh: $t is missing (apt-get install -y nginx-light h2o wrk curl)" >&2; exit 2; }
done
if [ "${STRACE:-0}" = 1 ] && ! command -v strace >/dev/null; then
  echo "files.sh: STRACE=1 needs strace (apt-get install -y strace)" >&2; exit 2
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "publishing samples/HttpServer to $BUILD" >&2
  mkdir -p "$(dirname "$BUILD")"
  dotnet publish "$root/samples/HttpServer" -c Release -o "$BUILD" >"$(dirname "$BUILD")/publish.log" 2>&1 ||
    { tail -n 20 "$(dirname "$BUILD")/publish.log" >&2; exit 1; }
fi
exec python3 "$root/bench/files.py"
