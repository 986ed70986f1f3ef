#!/usr/bin/env bash
# nginx alone under four static-file configurations, to show what tcp_nopush and open_file_cache
# change (docs/benchmarks.md, "File serving and bulk, final figures of 2026-12-06"): one worker
# pinned to CPU 0, wrk -t1 -c16 on CPU 1 (2 s warm-up, then a 5 s measured run) per configuration
# and file, server CPU per request from the worker's utime+stime (/proc/PID/stat, 100 ticks/s).
#
#   bench/nginx-variants.sh            1 KiB and 1 MiB files, results in bench/results/nginx-variants-<UTC>.txt
#
# Needs nginx, wrk, taskset (Debian 12: apt-get install -y nginx-light wrk). Binds 127.0.0.1 only;
# every nginx started here is stopped before the next.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
for t in nginx wrk taskset; do command -v "$t" >/dev/null || { echo "nginx-variants.sh: $t is missing" >&2; exit 2; }; done
work=$(mktemp -d /tmp/nginx-variants.XXXXXX)
trap '[ -f "$work/cur/nginx.pid" ] && kill "$(cat "$work/cur/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
mkdir "$work/docs"
head -c 1024 /dev/urandom >"$work/docs/1k.bin"
head -c 1048576 /dev/urandom >"$work/docs/1m.bin"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
user=$([ "$(id -u)" = 0 ] && echo "user root;" || true)
out=$root/bench/results/nginx-variants-$(date -u +%Y%m%dT%H%M%SZ).txt

one() { # FILE NAME DIRECTIVES
  local d=$work/cur w t0 t1 r
  rm -rf "$d"; mkdir -p "$d/tmp"
  cat >"$d/nginx.conf" <<C
$user
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_timeout 65; keepalive_requests 100000000;
  client_body_temp_path $d/tmp/body; proxy_temp_path $d/tmp/proxy; fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi; scgi_temp_path $d/tmp/scgi;
  types { application/octet-stream bin; }
  $3
  server { listen 127.0.0.1:$port; root $work/docs; }
}
C
  taskset -c 0 nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" &
  for _ in $(seq 50); do [ -f "$d/nginx.pid" ] && pgrep -f "nginx: worker" >/dev/null && break; sleep 0.1; done
  timeout 10 taskset -c 1 wrk -t1 -c16 -d2s "http://127.0.0.1:$port/$1" >/dev/null
  w=$(pgrep -f "nginx: worker" | head -1)
  t0=$(awk '{print $14+$15}' "/proc/$w/stat")
  r=$(timeout 15 taskset -c 1 wrk -t1 -c16 -d5s "http://127.0.0.1:$port/$1" | awk '/requests in/{print $1}')
  t1=$(awk '{print $14+$15}' "/proc/$w/stat")
  kill "$(cat "$d/nginx.pid")"; wait || true
  python3 -c "import sys; f,n,r,t=sys.argv[1:]; r=int(r); print(f'{f}\t{n}\t{r/5:,.0f} req/s\t{int(t)*1e4/r:.1f} us/req')" "$1" "$2" "$r" "$((t1 - t0))"
}

{
  echo "# bench/nginx-variants.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nginx -v 2>&1 | sed 's/.*: //'), kernel $(uname -r)"
  echo -e "# file\tconfiguration\tthroughput\tserver CPU per request"
  for f in 1k.bin 1m.bin; do
    one "$f" "sendfile on" "sendfile on;"
    one "$f" "sendfile on; tcp_nopush on" "sendfile on; tcp_nopush on;"
    one "$f" "sendfile on; open_file_cache" "sendfile on; open_file_cache max=1000;"
    one "$f" "sendfile on; tcp_nopush on; open_file_cache" "sendfile on; tcp_nopush on; open_file_cache max=1000;"
  done
} | tee "$out"
echo "results: $out"
