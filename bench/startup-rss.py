#!/usr/bin/env python3
"""Start-up time to the first answer, idle RSS and RSS under load: the PING and HTTP samples as JIT and
as NativeAOT builds, next to redis-server and nginx (one worker), in one run.

For each contender, --starts times over (server pinned to --server-cpu, load to --client-cpu):
  1. spawn the server and connect/ask every millisecond until the first right answer (`+PONG` to
     `PING`, or `200` with "Hello, World!" to `GET /`): the start-up time, from the spawn;
  2. on the last start only: wait --settle seconds and read the RSS of every process of the server's
     session (the idle RSS), then apply --load-seconds of load (redis-benchmark -c 50 -P 16 PING, or
     wrk -t1 -c64) while sampling that RSS every 100 ms (the peak under load);
  3. stop it (SIGTERM to its process group, SIGKILL after 5 s).
Medians of the start-up times; everything on 127.0.0.1; every run bounded. Prints a markdown table
and writes it, with the raw figures, to bench/results/startup-rss-<UTC time>.md.

    bench/startup-rss.sh                 # builds the four sample binaries, then runs this
    python3 bench/startup-rss.py --build /tmp/asyncore-startup/build --only ping
"""
import argparse, os, re, signal, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchutil import ROOT, free_port  # noqa: E402


def session_rss_kib(sid):
    """VmRSS summed over every process whose session id is sid (nginx's master and worker)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid:  # field 6 of stat: session id (after pid, comm, state, ppid, pgrp)
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


def ask(kind, port):
    """One question on a new connection; True when the answer is the right one."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            if kind == "ping":
                s.sendall(b"PING\r\n")
                want = b"+PONG\r\n"
            else:
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                want = b"Hello, World!"
            got = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
                if want in got and (kind == "ping" or got.startswith(b"HTTP/1.1 200")):
                    return True
            return False
    except OSError:
        return False


def first_answer(kind, port, proc, limit=60.0):
    """Seconds from now until the server gives its first right answer."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        if ask(kind, port):
            return time.monotonic() - start
        time.sleep(0.001)
    raise RuntimeError("no answer within 60 s")


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def load(kind, port, seconds, cpu):
    if kind == "ping":
        # -n sized generously; timeout bounds it to `seconds`.
        cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-P", "16", "-n", "200000000", "-t", "ping", "-q"]
        return subprocess.Popen(["timeout", "-s", "INT", str(seconds), "taskset", "-c", cpu] + cmd,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}/"]
    return subprocess.Popen(["timeout", str(seconds + 10), "taskset", "-c", cpu] + cmd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def contenders(build, run):
    nginx_conf = os.path.join(run, "nginx.conf")
    return [
        ("ping", "redis-server 7.0 (C)", lambda p: ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--save", "",
                                                    "--appendonly", "no", "--dir", run, "--logfile", "", "--daemonize", "no"]),
        ("ping", "Asyncore PingServer, JIT", lambda p: [f"{build}/ping/PingServer", "--port", str(p)]),
        ("ping", "Asyncore PingServer, NativeAOT", lambda p: [f"{build}/ping-aot/PingServer", "--port", str(p)]),
        ("http", "nginx 1.22 (C, 1 worker)", lambda p: nginx(run, nginx_conf, p)),
        ("http", "Asyncore HttpServer, JIT", lambda p: [f"{build}/http/HttpServer", "--port", str(p), "--quiet"]),
        ("http", "Asyncore HttpServer, NativeAOT", lambda p: [f"{build}/http-aot/HttpServer", "--port", str(p), "--quiet"]),
    ]


def nginx(run, conf, port):
    os.makedirs(os.path.join(run, "tmp"), exist_ok=True)
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path {run}/tmp/body; proxy_temp_path {run}/tmp/proxy; fastcgi_temp_path {run}/tmp/fastcgi;
    uwsgi_temp_path {run}/tmp/uwsgi; scgi_temp_path {run}/tmp/scgi;
    default_type text/plain;
    server {{ listen 127.0.0.1:{port}; location / {{ return 200 "Hello, World!"; }} }}
}}
""")
    return ["nginx", "-p", run, "-c", conf, "-e", f"{run}/error.log"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="folder with ping/, ping-aot/, http/, http-aot/ published binaries")
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--load-seconds", type=int, default=10)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--client-cpu", default="1")
    ap.add_argument("--only", default="", help="regex on contender names")
    args = ap.parse_args()

    run = tempfile.mkdtemp(prefix="asyncore-startup-")
    rows = []
    for kind, name, command in contenders(args.build, run):
        if args.only and not re.search(args.only, name):
            continue
        exe = command(0)[0]
        if os.path.sep in exe and not os.path.exists(exe):
            rows.append((name, None, None, None, None, f"missing {exe}"))
            continue
        times, idle, peak, note = [], None, None, ""
        for i in range(args.starts):
            port = free_port()
            with open(os.path.join(run, "server.log"), "ab") as log:
                proc = subprocess.Popen(["taskset", "-c", args.server_cpu] + command(port), stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                times.append(first_answer(kind, port, proc))
                if i == args.starts - 1:
                    time.sleep(args.settle)
                    idle = session_rss_kib(proc.pid)
                    gen = load(kind, port, args.load_seconds, args.client_cpu)
                    peak = idle
                    while gen.poll() is None:
                        peak = max(peak, session_rss_kib(proc.pid))
                        time.sleep(0.1)
                    if not ask(kind, port):
                        note = "no right answer after the load"
            except RuntimeError as e:
                note = str(e)
                break
            finally:
                stop(proc)
        rows.append((name, statistics.median(times) if times else None, min(times) if times else None, idle, peak, note))
        print(f"{name}: start-up {rows[-1][1]}, idle {idle} KiB, under load {peak} KiB {note}", file=sys.stderr)

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    ms = lambda v: "-" if v is None else f"{v * 1000:,.1f}"
    mib = lambda v: "-" if v is None else f"{v / 1024:,.1f}"
    lines = [
        f"## Start-up and memory ({stamp})",
        "",
        f"Server on CPU {args.server_cpu}, load on CPU {args.client_cpu}; start-up = spawn to first right answer, "
        f"median of {args.starts} starts (min beside it); RSS of the server's whole session, idle after {args.settle:g} s, "
        f"and the peak under {args.load_seconds} s of load (redis-benchmark -c 50 -P 16 PING, or wrk -t1 -c64 GET /).",
        "",
        "| contender | start-up to first answer, ms (median) | min | idle RSS, MiB | RSS under load, MiB | notes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, med, low, idle, peak, note in rows:
        lines.append(f"| {name} | {ms(med)} | {ms(low)} | {mib(idle)} | {mib(peak)} | {note} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = os.path.join(ROOT, "bench", "results", f"startup-rss-{stamp}.md")
    with open(out, "w") as f:
        f.write(text)
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
