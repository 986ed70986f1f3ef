#!/usr/bin/env bash
# Memory while the HTTP sample serves a sparse 2 GiB file to 100 slow readers (the file-region
# issue's check: memory stays flat, no more than the water marks per connection). Each reader takes
# RATE bytes a second until it has the whole body; the server's RSS is sampled every second.
# Prints the RSS at the start, its highest, and at the end, and whether every body arrived whole.
#   bench/file-region-memory.sh [READERS=100] [RATE=16777216] [SIZE=2147483648] [POLLER=epoll]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
readers=${1:-100}
rate=${2:-16777216}
size=${3:-2147483648}
poller=${4:-epoll}
work=$(mktemp -d /tmp/asyncore-region-mem.XXXXXX)
dotnet publish "$root/samples/HttpServer" -c Release -o "$work/server" -v q --nologo >/dev/null
mkdir "$work/root"
truncate -s "$size" "$work/root/big.bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/server/HttpServer" --port "$port" --root "$work/root" --quiet --poller "$poller" --idle-timeout 0 >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; kill $sampler 2>/dev/null; rm -rf "$work"' EXIT
sampler=
sleep 2
rss() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
(while kill -0 $server 2>/dev/null; do rss; sleep 1; done) >"$work/rss" &
sampler=$!
start=$(rss)
python3 - "$port" "$readers" "$rate" "$size" <<'PY'
import socket, sys, threading, time
port, readers, rate, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ok = []
def reader():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    got, zeros, t0 = 0, True, time.monotonic()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += len(chunk)
        zeros = zeros and chunk.count(0) == len(chunk)
        ahead = got / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    ok.append(got == size and zeros)
threads = [threading.Thread(target=reader) for _ in range(readers)]
for t in threads: t.start()
for t in threads: t.join()
print(f"{sum(ok)} of {readers} readers got all {size} bytes")
PY
end=$(rss)
peak=$(sort -n "$work/rss" | tail -1)
echo "server RSS: start ${start} KiB, highest ${peak} KiB, end ${end} KiB (readers $readers, $rate B/s each, poller $poller)"
