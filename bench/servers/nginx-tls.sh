#!/usr/bin/env bash
# A private nginx like ../shared/bench/servers/nginx.sh (1 worker, no daemon, keep-alive,
# return 200 "Hello, World!") that serves HTTPS with the given PEM certificate and key.
# usage: nginx-tls.sh PORT RUNDIR CERT KEY     (RUNDIR: scratch folder for config, pid, logs)
#
# TLS: TLSv1.2 and TLSv1.3, nginx's default ciphers (HIGH:!aNULL:!MD5) and curves (auto).
# Session cache off and session tickets off: bench/tls-bench.sh's "new handshakes" rows
# count the server's CPU per *full* handshake, the figure a server pays for every new client.
# Its load client never offers a session anyway, but wrk (used for the keep-alive rows and by
# anyone trying this by hand) keeps its last session and offers it on reconnect; with resumption
# allowed here, nginx would answer that with an abbreviated handshake while a server without a
# cache does a full one, and the two would not be doing the same work.
set -euo pipefail
port=${1:?port}
dir=${2:?rundir}/nginx-tls-$port
cert=$(realpath "${3:?cert}")
key=$(realpath "${4:?key}")
mkdir -p "$dir/tmp"
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
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
        listen 127.0.0.1:$port ssl;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        location / {
            return 200 "Hello, World!";
        }
    }
}
CONF
exec nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
