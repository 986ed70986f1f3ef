#!/usr/bin/env bash
# Start-up time and RSS of the PING and HTTP samples, JIT and NativeAOT, next to redis-server and nginx
# (bench/startup-rss.py does the measuring; see its header). Builds the four binaries first:
#   bench/startup-rss.sh                     # all six contenders, 5 starts each (about 2 minutes after the build)
#   bench/startup-rss.sh --only 'Ping|redis' # some; any startup-rss.py option passes through
# NativeAOT needs clang and zlib1g-dev (apt-get install -y clang zlib1g-dev); the load needs wrk and redis-tools.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${STARTUP_BUILD:-/tmp/asyncore-startup/build}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
for s in PingServer:ping HttpServer:http; do
  project=${s%%:*}; dir=${s##*:}
  dotnet publish "$ROOT/samples/$project" -c Release -o "$BUILD/$dir" -v q --nologo >/dev/null
  dotnet publish "$ROOT/samples/$project" -c Release -p:PublishAot=true -o "$BUILD/$dir-aot" -v q --nologo >/dev/null
done
dotnet build-server shutdown >/dev/null 2>&1 || true
exec python3 "$ROOT/bench/startup-rss.py" --build "$BUILD" "$@"
