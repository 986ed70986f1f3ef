#!/usr/bin/env bash
# A private nginx like ../shared/bench/servers/nginx.sh (return 200 "Hello, World!", keep-alive),
# with WORKERS worker processes sharing the port through SO_REUSEPORT (one listening socket per
# worker, the kernel spreads connections), for the loop-per-core rows of docs/benchmarks.md.
# usage: nginx-workers.sh PORT RUNDIR WORKERS
set -euo pipefail
port=${1:?port}
workers=${3:?workers}
dir=${2:?rundir}/nginx-w$workers-$port
mkdir -p "$dir/tmp"
cat > "$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 100000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:$port reuseport;
        location / {
            return 200 "Hello, World!";
        }
    }
}
CONF
exec nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
