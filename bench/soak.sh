#!/usr/bin/env bash
# Soak test: does a server on each backend stay flat for 10 minutes of churn?
#
# Per backend (epoll, poll, select, and io_uring when asked with --backends; one after the other, server on CPU 0 and churn on CPU 1):
#  - a server process (`Soak server`): a line server on AsyncChat ("\r\n" terminator, each line
#    answered "echo: line"), IdleTimeout 5 s on every connection, driven by EventLoop.RunAsync on
#    127.0.0.1; a second thread calls map.Post every 2 ms and the action records how long it
#    waited (1 µs histogram);
#  - a churn process (`Soak churn`, plain .NET sockets): 1,000 connections a second for --seconds;
#    85 % send 1-3 lines, check every answer and close; 5 % go silent (half after one answered
#    line) and must be closed by the server one idle timeout later; 5 % leave mid-line (half with a
#    FIN, half with a reset); 5 % send a line and close without reading the answer.
# Every 10 s the server writes a TSV line: live managed heap (after a forced full collection),
# RSS (VmRSS), open descriptors (/proc/self/fd), connections accepted and open, pending timers,
# Posts run, the longest Post wait in the window, and the GC's counts and pause time. After a
# warm-up (60 s; at most half the run) it fits a least-squares slope per minute to each series. Flat means: live heap ≤ 256 KiB/min
# (about 4 bytes per connection), RSS ≤ 2 MiB/min, descriptors ≤ 2/min (one in 30,000
# connections); Post passes when p99.9 ≤ 1 ms. Posts whose wait overlapped the sampler's own
# forced collection are reported apart. The verdict needs 20 samples after warm-up: shorter runs
# are smoke tests. Exit status 0 when every backend is flat, within the Post mark and error-free.
#
# The 10-minute run (10 minutes per backend, about 32-35 minutes in all; on a quiet machine):
#   bench/soak.sh
# A smoke run, or other settings (any `Soak run` option: --backends, --seconds, --rate,
# --idle-timeout, --warmup, --sample, --max-rss-mib, --parallel, --no-pin, --out):
#   bench/soak.sh --seconds 40
# Results: bench/results/soak-<UTC time>.md (the tables), and per backend a .tsv of samples and a
# .log of both processes' output. Every process is bounded: the churn by --seconds, the server by
# --seconds + 120 s, the driver kills what overstays; children also stop when the driver's pipe
# to them closes, however the driver ends. A server whose RSS passes --max-rss-mib (4096; a leak
# at full churn) ends that backend's run early, and the report says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dotnet build "$root/bench/Soak" -c Release -v q --nologo >/dev/null
cd "$root"   # --out is bench/results unless given
exec "$root/bench/Soak/bin/Release/net10.0/Soak" run "$@"
