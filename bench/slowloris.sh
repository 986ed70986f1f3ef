#!/usr/bin/env bash
# The HTTP sample under wrk with and without 1,000 slowloris connections (one byte a second, never a
# whole request), server on CPU 0, clients on CPU 1, in interleaved rounds (this VM drifts between
# minutes). Prints each round, the medians, and the server's CPU time per request.
#   bench/slowloris.sh [CONNECTIONS=1000] [ROUNDS=3] [SECONDS=8]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}
rounds=${2:-3}
secs=${3:-8}
command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
dotnet publish "$root/samples/HttpServer" -c Release -o /tmp/asyncore-slowloris -v q --nologo >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 /tmp/asyncore-slowloris/HttpServer --port "$port" --quiet --request-timeout 5 --idle-timeout 10 >/tmp/asyncore-slowloris.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; kill $loris 2>/dev/null' EXIT
loris=
sleep 2
url="http://127.0.0.1:$port/"
taskset -c 1 wrk -t1 -c32 -d20s "$url" >/dev/null   # warm-up (tiered JIT)
ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
hz=$(getconf CLK_TCK)
measure() { # prints "req/s us-per-request"
  local t0 t1 out reqs
  t0=$(ticks)
  out=$(taskset -c 1 wrk -t1 -c32 -d"${secs}s" "$url")
  t1=$(ticks)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v r="$(awk '/Requests\/sec/ {print $2}' <<<"$out")" -v c=$((t1 - t0)) -v n="$reqs" -v hz="$hz" \
      'BEGIN { printf "%.0f %.2f\n", r, c / hz * 1e6 / n }'
}
: > /tmp/asyncore-slowloris.rounds
for r in $(seq 1 "$rounds"); do
  read -r u ucpu < <(measure)
  taskset -c 1 python3 "$root/bench/slowloris.py" 127.0.0.1 "$port" "$n" $((secs + 9)) >> /tmp/asyncore-slowloris.out &
  loris=$!
  sleep 7   # every slow connection open and trickling
  read -r l lcpu < <(measure)
  wait $loris
  loris=
  echo "round $r: unloaded $u req/s ($ucpu us/req server CPU) | with $n slowloris $l req/s ($lcpu us/req)" | tee -a /tmp/asyncore-slowloris.rounds
done
python3 - <<'PY'
import re, statistics as st
rows = [list(map(float, re.findall(r"([0-9.]+) req/s \(([0-9.]+) us", l)[i])) for l in open("/tmp/asyncore-slowloris.rounds") for i in (0, 1)]
u = [r for i, r in enumerate(rows) if i % 2 == 0]; l = [r for i, r in enumerate(rows) if i % 2 == 1]
mu, ml = st.median(x[0] for x in u), st.median(x[0] for x in l)
cu, cl = st.median(x[1] for x in u), st.median(x[1] for x in l)
print(f"median: unloaded {mu:.0f} req/s, with slowloris {ml:.0f} req/s, ratio {ml/mu:.2f}")
print(f"server CPU per request: unloaded {cu:.2f} us, with slowloris {cl:.2f} us (ratio {cu/cl:.2f} of unloaded efficiency)")
PY
tail -n "$rounds" /tmp/asyncore-slowloris.out
