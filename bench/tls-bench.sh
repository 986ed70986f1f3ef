#!/usr/bin/env bash
# tls-bench.sh -- HTTPS side by side: the HTTP sample over TLS next to nginx with TLS and Kestrel
# with HTTPS (bench/contenders/60-tls.txt), same certificate, same pinning, interleaved rounds.
#
#   bench/tls-bench.sh                 one pass (about 6 minutes with the three contenders)
#   QUICK=1 bench/tls-bench.sh         a short smoke pass (1 round, 2 s runs, short warm-up)
#   bench/tls-bench.sh --summary F...  the tables again, over one or more results/tls-*.tsv
#   bench/tls-bench.sh --list          the contenders it would run
#
# Two scenarios per contender, each server pinned to SERVER_CPU and each load generator to
# CLIENT_CPU (taskset):
#   keep-alive      wrk -t1 -cKA_CONNS -dKA_SECONDS https://127.0.0.1:PORT/  -> req/s
#   new handshakes  tls-handshakes (bench/tls-handshakes.c) with HS_CONNS connections for
#                   HS_SECONDS: one request per connection, "Connection: close", a full
#                   handshake every time (no session is ever offered)  -> handshakes/s
# and for both, the server's CPU per request (or handshake): utime+stime of every process of the
# server's session (/proc/PID/stat) over the run, divided by the requests it answered.
#
# Environment knobs (defaults in brackets):
#   CERT [ec: P-256 | rsa: RSA 2048]   ONLY [regex on contender names]
#   CONTENDERS [bench/contenders/60-tls.txt, space-separated files]
#   SERVER_CPU [0]  CLIENT_CPU [1]  ROUNDS [3]  SCENARIOS ["keepalive handshake"]
#   KA_SECONDS [10]  KA_CONNS [64]  HS_SECONDS [10]  HS_CONNS [16]  HS_TLS [both: 1.2 or 1.3 pins it]
#   WARMUP [2 s, unless warmup= in the contender's line]  WARMUP_CAP [600]  BASE_PORT [18300]
#   TLS_WORK [/tmp/asyncore-tls-bench: builds, certificate, scratch]  SHARED_BENCH [../shared/bench]
#   QUIET_MIN [1.7]  QUIET_WAIT [8]  QUIET_BUDGET [20]  (the 2-core factor probe, as in the shared harness)
#
# Results: bench/results/tls-<UTC time>.tsv (one row per measured figure) and .md (its tables).
# Everything binds 127.0.0.1; every run is bounded (-d, timeout); only the servers started
# here are stopped, by their own process-group id (setsid).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export ASYNCORE_ROOT=$ROOT

CERT=${CERT:-ec}
ONLY=${ONLY:-}
CONTENDERS=${CONTENDERS:-bench/contenders/60-tls.txt}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
# QUICK=1: a short smoke pass; knobs set in the environment still win.
if [ "${QUICK:-0}" = 1 ]; then q=(1 2 2 1 3); else q=(3 10 10 2 600); fi
ROUNDS=${ROUNDS:-${q[0]}}
SCENARIOS=${SCENARIOS:-"keepalive handshake"}
KA_SECONDS=${KA_SECONDS:-${q[1]}}
KA_CONNS=${KA_CONNS:-64}
HS_SECONDS=${HS_SECONDS:-${q[2]}}
HS_CONNS=${HS_CONNS:-16}
HS_TLS=${HS_TLS:-}
WARMUP=${WARMUP:-${q[3]}}
WARMUP_CAP=${WARMUP_CAP:-${q[4]}}
BASE_PORT=${BASE_PORT:-18300}
TLS_WORK=${TLS_WORK:-/tmp/asyncore-tls-bench}
SHARED_BENCH=${SHARED_BENCH:-$ROOT/../shared/bench}
QUIET_MIN=${QUIET_MIN:-1.7}
QUIET_WAIT=${QUIET_WAIT:-8}
QUIET_BUDGET=${QUIET_BUDGET:-20}
BUILD=$TLS_WORK/build
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s\n' "$*" >&2; }
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }

# ---------------------------------------------------------------- contenders
declare -a C_NAME=() C_OPTS=() C_CMD=() B_NAME=() B_CMD=()
load_contenders() {
    local f line n o rest
    for f in $CONTENDERS; do
        [ -e "$f" ] || { log "warning: no contender file $f"; continue; }
        while IFS= read -r line || [ -n "$line" ]; do
            [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
            IFS='|' read -r n o rest <<<"$line"
            n=$(trim "$n"); o=$(trim "${o:-}"); rest=$(trim "${rest:-}")
            if [ -z "$n" ] || [ -z "$o" ] || [ -z "$rest" ]; then
                log "warning: $f: malformed line skipped: $line"; continue
            fi
            if [[ $n =~ ^build(:|$) ]]; then
                B_NAME+=("$n"); B_CMD+=("$rest")
            else
                C_NAME+=("$n"); C_OPTS+=("$o"); C_CMD+=("$rest")
            fi
        done <"$f"
    done
}

opt() { # opt OPTIONS KEY DEFAULT
    local kv
    for kv in $1; do [[ $kv == "$2="* ]] && { printf '%s' "${kv#*=}"; return; }; done
    printf '%s' "$3"
}

PORT=0
subst() {
    local s=$1
    s=${s//\{port\}/$PORT}; s=${s//\{cert\}/$CERT_FILE}; s=${s//\{key\}/$KEY_FILE}
    s=${s//\{run\}/$RUN_DIR}; s=${s//\{build\}/$BUILD}
    printf '%s' "$s"
}

# ---------------------------------------------------------------- tools, builds, certificate
ensure_tools() {
    local pkgs=() made_policy=0 rc
    command -v wrk >/dev/null || pkgs+=(wrk)
    command -v nginx >/dev/null || pkgs+=(nginx-light)
    command -v openssl >/dev/null || pkgs+=(openssl)
    command -v gcc >/dev/null || pkgs+=(gcc libc6-dev)
    [ -e /usr/include/openssl/ssl.h ] || pkgs+=(libssl-dev)
    command -v taskset >/dev/null || pkgs+=(util-linux)
    command -v ss >/dev/null || pkgs+=(iproute2)
    command -v curl >/dev/null || pkgs+=(curl)
    [ -x /usr/bin/time ] || pkgs+=(time)
    [ ${#pkgs[@]} -eq 0 ] && return 0
    log "installing: ${pkgs[*]}"
    [ "$(id -u)" = 0 ] || { log "error: need root to apt-get install ${pkgs[*]}"; return 1; }
    # keep Debian's nginx service from starting on port 80
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >"$RUN_DIR/apt.log" 2>&1 ||
        { apt-get update >>"$RUN_DIR/apt.log" 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$RUN_DIR/apt.log" 2>&1; }
    rc=$?
    [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ $rc = 0 ] || log "error: apt-get install failed, see $RUN_DIR/apt.log"
    return $rc
}

BUILD_FAILURES=()
run_builds() {
    local i lf
    mkdir -p "$BUILD"
    if [ ! -x "$BUILD/tls-handshakes" ] || [ bench/tls-handshakes.c -nt "$BUILD/tls-handshakes" ]; then
        gcc -O2 -Wall -o "$BUILD/tls-handshakes" bench/tls-handshakes.c -lssl -lcrypto ||
            { log "error: could not build bench/tls-handshakes.c"; BUILD_FAILURES+=("tls-handshakes"); }
    fi
    if [ -e "$SHARED_BENCH/servers/cpuprobe.c" ]; then
        if [ ! -x "$BUILD/cpuprobe" ] || [ "$SHARED_BENCH/servers/cpuprobe.c" -nt "$BUILD/cpuprobe" ]; then
            gcc -O2 -o "$BUILD/cpuprobe" "$SHARED_BENCH/servers/cpuprobe.c" || log "warning: no 2-core factor probe"
        fi
    else
        log "note: $SHARED_BENCH/servers/cpuprobe.c not found; rows carry no 2-core factor"
    fi
    for i in "${!B_NAME[@]}"; do
        lf="$RUN_DIR/build-$((i + 1)).log"
        log "${B_NAME[$i]}"
        if ! bash -c "$(subst "${B_CMD[$i]}")" >"$lf" 2>&1; then
            log "  build FAILED (see $lf): $(tail -n 3 "$lf" | tr '\n' ' ')"
            BUILD_FAILURES+=("${B_NAME[$i]#build: }")
        fi
    done
}

make_cert() { # one throwaway self-signed certificate for every contender
    local dir=$RUN_DIR/cert
    mkdir -p "$dir"
    CERT_FILE=$dir/cert.pem KEY_FILE=$dir/key.pem
    local newkey
    case $CERT in
        ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) CERT_DESC="EC P-256 (ECDSA)" ;;
        rsa) newkey=(-newkey rsa:2048) CERT_DESC="RSA 2048" ;;
        *) log "CERT must be ec or rsa"; return 1 ;;
    esac
    openssl req -x509 "${newkey[@]}" -nodes -days 2 -subj /CN=localhost \
        -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
        -keyout "$KEY_FILE" -out "$CERT_FILE" >"$dir/openssl.log" 2>&1 ||
        { log "error: openssl req failed: $(tail -n 2 "$dir/openssl.log")"; return 1; }
}

# ---------------------------------------------------------------- processes
declare -a LIVE=()
SRV=""
NEXT_PORT=$BASE_PORT
alloc_port() {
    while ss -Htan "( sport = :$NEXT_PORT )" 2>/dev/null | grep -q .; do NEXT_PORT=$((NEXT_PORT + 1)); done
    PORT=$NEXT_PORT; NEXT_PORT=$((NEXT_PORT + 1))
}
start_server() { # CMD LOGFILE -> SRV (pid = process group = session id)
    setsid taskset -c "$SERVER_CPU" bash -c "$1" >"$2" 2>&1 </dev/null &
    SRV=$!
    LIVE+=("$SRV")
}
alive() { kill -0 -- "-$1" 2>/dev/null || kill -0 "$1" 2>/dev/null; }
stop_server() { # PID: TERM its process group, KILL after 5 s
    local pid=$1 i
    alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null; fi
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() { local p; for p in "${LIVE[@]}"; do stop_server "$p"; done; }
wait_listen() { # PORT PID -> 0 when something listens on PORT (30 s max)
    local t=0
    until ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; do
        alive "$2" || return 1
        sleep 0.1; t=$((t + 1)); [ $t -gt 300 ] && return 1
    done
    return 0
}
group_ticks() { # CPU ticks (utime+stime) of every process in session $1
    local total=0 p st
    for p in $(ps -o pid= -s "$1" 2>/dev/null); do
        st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        st=${st##*) }
        set -- $st
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

OUT="" ERR="" RC=0 C_REAL=0 C_USER=0 C_SYS=0
timed() { # run "$@" on the client CPU, stdout>$OUT stderr>$ERR; sets RC C_REAL C_USER C_SYS
    local tf="$RUN_DIR/.time"
    : >"$tf"
    taskset -c "$CLIENT_CPU" /usr/bin/time -f '%e %U %S' -o "$tf" "$@" >"$OUT" 2>"$ERR"
    RC=$?
    read -r C_REAL C_USER C_SYS < <(tail -n 1 "$tf") || true
    [[ $C_REAL =~ ^[0-9.]+$ ]] && [ "$C_REAL" != 0.00 ] || C_REAL=0.01
    [[ $C_USER =~ ^[0-9.]+$ ]] || C_USER=0
    [[ $C_SYS =~ ^[0-9.]+$ ]] || C_SYS=0
}

# 2-core factor (as in ../shared/bench): spin 0.1 s on the server CPU alone, then on both CPUs
# at once; (work on both) / (work alone) is about 2 when the two vCPUs really run in parallel and
# nearer 1 when the host time-shares them. Before each measurement wait (QUIET_WAIT s at most,
# QUIET_BUDGET s per pass) for a factor of QUIET_MIN; each row records the smaller of the two.
QUIET_SPENT=0 PAR="" PAR0=""
probe1() {
    local a b0 b1 pid
    [ -x "$BUILD/cpuprobe" ] || return 0
    a=$(taskset -c "$SERVER_CPU" "$BUILD/cpuprobe" 100)
    taskset -c "$SERVER_CPU" "$BUILD/cpuprobe" 100 >"$RUN_DIR/.probe" &
    pid=$!
    b1=$(taskset -c "$CLIENT_CPU" "$BUILD/cpuprobe" 100)
    wait "$pid"
    b0=$(cat "$RUN_DIR/.probe")
    [[ $a =~ ^[0-9.]+$ && $b0 =~ ^[0-9.]+$ && $b1 =~ ^[0-9.]+$ ]] && calc "($b0 + $b1) / $a" 2
    return 0
}
probe_before() {
    local waited=0
    PAR0=$(probe1)
    while [ -n "$PAR0" ] && below "$PAR0" "$QUIET_MIN" && [ $waited -lt "$QUIET_WAIT" ] &&
          [ $QUIET_SPENT -lt "$QUIET_BUDGET" ]; do
        sleep 1; waited=$((waited + 1)); QUIET_SPENT=$((QUIET_SPENT + 1))
        PAR0=$(probe1)
    done
    PAR=$PAR0
}
probe_after() {
    local p; p=$(probe1)
    if [ -n "$p" ] && { [ -z "$PAR0" ] || below "$p" "$PAR0"; }; then PAR=$p; else PAR=$PAR0; fi
}

# ---------------------------------------------------------------- load
KA_SCEN="keep-alive: wrk -t1 -c$KA_CONNS -d${KA_SECONDS}s https GET /"
HS_SCEN="new handshakes: tls-handshakes -c$HS_CONNS -d${HS_SECONDS}s, Connection: close${HS_TLS:+, TLS $HS_TLS}"
scen_name() { case $1 in keepalive) echo "$KA_SCEN" ;; handshake) echo "$HS_SCEN" ;; esac; }

run_wrk() { # SECONDS
    OUT="$RUN_DIR/wrk.out" ERR="$RUN_DIR/wrk.err"
    timed timeout $(($1 + 30)) wrk -t1 -c"$KA_CONNS" -d"${1}s" "https://127.0.0.1:$PORT/"
}
run_hs() { # SECONDS
    OUT="$RUN_DIR/hs.out" ERR="$RUN_DIR/hs.err"
    timed timeout $(($1 + 30)) "$BUILD/tls-handshakes" 127.0.0.1 "$PORT" "$HS_CONNS" "$1" $HS_TLS
}

# results: run round scenario contender value unit server_cpu% client_cpu% server_us_per_op ops note two_core_factor
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN_ID" "$@" "$PAR" >>"$RESULTS"
    PAR=""
}

declare -a K_NAME=() K_OPTS=() K_PID=() K_PORT=() K_CHECK=()
start_all() {
    local i cmd lf needs
    for i in "${!C_NAME[@]}"; do
        [ -z "$ONLY" ] || [[ ${C_NAME[$i]} =~ $ONLY ]] || continue
        needs=$(opt "${C_OPTS[$i]}" needs "")
        if [ -n "$needs" ] && [ ! -e "$(subst "$needs")" ]; then
            log "${C_NAME[$i]}: skipped, $(subst "$needs") is missing (build failed?)"
            fail_rows "${C_NAME[$i]}" "skipped: $(subst "$needs") missing (build failed?)"
            continue
        fi
        alloc_port
        cmd=$(subst "${C_CMD[$i]}"); lf="$RUN_DIR/server-$PORT.log"
        log "start ${C_NAME[$i]}  (port $PORT, log $lf)"
        start_server "$cmd" "$lf"
        if ! wait_listen "$PORT" "$SRV"; then
            log "  failed to start: $(tail -n 3 "$lf" | tr '\n' ' ')"
            stop_server "$SRV"; fail_rows "${C_NAME[$i]}" "failed to start: $(grep -v '^[[:space:]]*$' "$lf" | head -n 2 | tr '\t\n' '  ')"
            continue
        fi
        K_NAME+=("${C_NAME[$i]}"); K_OPTS+=("${C_OPTS[$i]}"); K_PID+=("$SRV"); K_PORT+=("$PORT"); K_CHECK+=("")
    done
}
fail_rows() { # NAME NOTE: one empty row per scenario
    local s
    for s in $SCENARIOS; do record 0 "$(scen_name "$s")" "$1" "" "$(unit_of "$s")" "" "" "" "" "$2"; done
}
unit_of() { case $1 in keepalive) echo "req/s" ;; handshake) echo "handshakes/s" ;; esac; }
use() { SRV=${K_PID[$1]}; PORT=${K_PORT[$1]}; }
order() { local n=${#K_PID[@]} j; for ((j = 0; j < n; j++)); do printf '%s ' $(((j + $1 - 1) % n)); done; }

check_and_warm() {
    local k w
    for k in "${!K_PID[@]}"; do
        use "$k"
        curl -sk -m 5 "https://127.0.0.1:$PORT/" | grep -q 'Hello, World!' ||
            K_CHECK[$k]="GET / over https did not return Hello, World!"
        [ -n "${K_CHECK[$k]}" ] && log "  ${K_NAME[$k]}: ${K_CHECK[$k]}"
        w=$(opt "${K_OPTS[$k]}" warmup "$WARMUP")
        [ "$w" -gt "$WARMUP_CAP" ] && w=$WARMUP_CAP
        log "warm-up ${w} s of each scenario's load ($SCENARIOS): ${K_NAME[$k]}"
        [ "$w" -gt 0 ] || continue
        [[ " $SCENARIOS " == *" keepalive "* ]] && run_wrk "$w"
        [[ " $SCENARIOS " == *" handshake "* ]] && run_hs "$w"
    done
}

measure() { # K SCENARIO ROUND
    local k=$1 s=$2 r=$3 scen unit s0 ticks value ops errs scpu ccpu us note
    scen=$(scen_name "$s"); unit=$(unit_of "$s")
    if ! alive "${K_PID[$k]}"; then
        log "  ${K_NAME[$k]}: server is gone (see its log)"
        record "$r" "$scen" "${K_NAME[$k]}" "" "$unit" "" "" "" "" "server exited"; return
    fi
    use "$k"
    probe_before
    s0=$(group_ticks "$SRV")
    case $s in
        keepalive)
            run_wrk "$KA_SECONDS"
            ticks=$(($(group_ticks "$SRV") - s0))
            value=$(awk '/^Requests\/sec:/ { print $2 }' "$OUT")
            ops=$(awk '/requests in/ { print $1 }' "$OUT")
            errs=$(grep -E 'Non-2xx|Socket errors' "$OUT" | tr -s ' ' | tr '\n' ' ') ;;
        handshake)
            run_hs "$HS_SECONDS"
            ticks=$(($(group_ticks "$SRV") - s0))
            local last; last=$(tail -n 1 "$OUT")
            value=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$last")
            ops=$(sed -n 's/.*handshakes=\([0-9]*\).*/\1/p' <<<"$last")
            errs=$(sed -n 's/.*\(errors=[0-9]*\) \(bad=[0-9]*\) \(resumed=[0-9]*\) protocol=\([^ ]*\) cipher=\([^ ]*\).*/\1 \2 \3 \4 \5/p' <<<"$last") ;;
    esac
    probe_after
    if [ "$RC" != 0 ] || [ -z "$value" ] || [ -z "$ops" ] || [ "$ops" = 0 ]; then
        log "  ${K_NAME[$k]}: no result (rc=$RC) $(tail -n 2 "$ERR" | tr '\n' ' ')"
        record "$r" "$scen" "${K_NAME[$k]}" "" "$unit" "" "" "" "" "run failed (rc=$RC)"; return
    fi
    scpu=$(calc "$ticks / $CLK_TCK / $C_REAL * 100" 0)
    ccpu=$(calc "($C_USER + $C_SYS) / $C_REAL * 100" 0)
    us=$(calc "$ticks / $CLK_TCK / $ops * 1000000" 2)
    note=$(trim "${K_CHECK[$k]}${errs:+ $errs}")
    log "  $(printf '%-52s' "${K_NAME[$k]}") $value $unit, $us us CPU each (server CPU $scpu%, client CPU $ccpu%, 2-core factor ${PAR:-?})${note:+ $note}"
    record "$r" "$scen" "${K_NAME[$k]}" "$value" "$unit" "$scpu" "$ccpu" "$us" "$ops" "$note"
}

# ---------------------------------------------------------------- main
main() {
    case ${1:-} in
        --summary) shift; [ $# -gt 0 ] || set -- bench/results/tls-*.tsv
                   exec python3 bench/tls-summary.py "$@" ;;
        --list) load_contenders
                for i in "${!B_NAME[@]}"; do printf '%s\n' "${B_NAME[$i]}"; done
                for i in "${!C_NAME[@]}"; do printf 'contender: %s  [%s]\n' "${C_NAME[$i]}" "${C_OPTS[$i]}"; done
                exit 0 ;;
        --help | -h) sed -n '2,30p' "$0"; exit 0 ;;
        "") ;;
        *) log "unknown argument $1 (try --help)"; exit 2 ;;
    esac

    RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
    RUN_DIR="$TLS_WORK/run/$RUN_ID"
    mkdir -p "$RUN_DIR" bench/results
    RESULTS="bench/results/tls-$RUN_ID.tsv"
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    ensure_tools || log "warning: some tools are missing; their contenders will fail"
    load_contenders
    make_cert || exit 1
    run_builds

    {
        printf '# run\t%s\n' "$RUN_ID"
        printf '# date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
        printf '# machine\t%s CPUs (%s), %s GiB RAM, kernel %s, %s\n' "$(nproc)" \
            "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)" \
            "$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$(uname -r)" \
            "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
        printf '# pinning\tserver on CPU %s, load generator on CPU %s (taskset)\n' "$SERVER_CPU" "$CLIENT_CPU"
        printf '# versions\t%s; %s; %s; dotnet %s\n' "$(nginx -v 2>&1 | sed 's/.*: //')" \
            "$(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }')" "$(openssl version)" \
            "$(dotnet --version 2>/dev/null || echo missing)"
        printf '# certificate\t%s, self-signed, the same file for every contender\n' "$CERT_DESC"
        printf '# params\t%s; %s interleaved rounds, order rotating; warm-up %s s unless warmup= (same length of each load)\n' \
            "$(for x in $SCENARIOS; do scen_name "$x"; done | paste -sd ';' - | sed 's/;/; /g')" "$ROUNDS" "$WARMUP"
        [ ${#BUILD_FAILURES[@]} -gt 0 ] && printf '# build failures\t%s\n' "${BUILD_FAILURES[*]}"
        printf '# columns\trun\tround\tscenario\tcontender\tvalue\tunit\tserver_cpu_pct\tclient_cpu_pct\tserver_cpu_us_per_op\tops\tnote\ttwo_core_factor\n'
    } >"$RESULTS"

    local t0=$SECONDS round s k
    start_all
    if [ ${#K_PID[@]} -gt 0 ]; then
        check_and_warm
        for round in $(seq "$ROUNDS"); do
            for s in $SCENARIOS; do
                log "round $round/$ROUNDS: $(scen_name "$s")"
                for k in $(order "$round"); do measure "$k" "$s" "$round"; done
            done
        done
    fi
    cleanup; LIVE=()
    log "took $((SECONDS - t0)) s (of which $QUIET_SPENT s waiting for a quiet machine); results in $RESULTS"
    python3 bench/tls-summary.py "$RESULTS" | tee "${RESULTS%.tsv}.md"
}

main "$@"
