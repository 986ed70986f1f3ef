#!/usr/bin/env python3
"""File serving side by side: the HTTP sample (epoll and io_uring) next to nginx and h2o.

Run through bench/files.sh, which publishes the sample first. One folder holds 1k.bin, 64k.bin and
1m.bin (random bytes) and page.html (the sample's built-in page, fetched with curl); every server
serves that folder from 127.0.0.1:

  ours epoll       HttpServer --root DIR --quiet --loops 1 --poller epoll
  ours io_uring    the same with --poller io_uring
  (the built-in page: the same two without --root, GET /)
  nginx            1 worker, sendfile on, tcp_nopush on, open_file_cache max=1000, access_log off,
                   keep-alive, its own prefix, daemon off
  h2o              1 thread, file.dir DIR, no access log

All servers start at once (an idle server costs nothing), each pinned to SERVER_CPU (taskset), each
in its own process group; the .NET ones get JIT_WARMUP seconds of load first (tiered compilation).
Then, PASSES times: for each target (1k, 64k, 1m, page) and each server, one after another (the
order of servers rotates each pass), WARMUP seconds of wrk, then the measured run
`taskset -c CLIENT_CPU wrk -t1 -cCONNS -dDURATIONs URL`. Server CPU per request is the utime+stime
of every process in the server's group (/proc/PID/stat) over the measured run, divided by the
requests wrk counted, as ../shared/bench/run-peers.sh does it.

Output: bench/results/files-<UTC time>.tsv (one row per measured run) and .md (per-pass medians and
the median of per-pass ratios ours / nginx and ours / h2o, per backend).
Every run is bounded (-d, timeout); everything binds 127.0.0.1; every server started here is
stopped at exit, by its own process group.
"""
import atexit
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import resource
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
env = os.environ.get
SERVER_CPU = env("SERVER_CPU", "0")
CLIENT_CPU = env("CLIENT_CPU", "1")
PASSES = int(env("PASSES", "2"))
DURATION = int(env("DURATION", "10"))
WARMUP = int(env("WARMUP", "3"))
JIT_WARMUP = int(env("JIT_WARMUP", "15"))
CONNS = int(env("CONNS", "16"))
BASE_PORT = int(env("BASE_PORT", "18400"))
BUILD = env("BUILD", "/tmp/asyncore-files-bench/http")
SERVERS = env("SERVERS", "epoll io_uring nginx h2o").split()
TARGETS = env("TARGETS", "1k 64k 1m page").split()
SIZES = {"1k": 1024, "64k": 64 * 1024, "1m": 1024 * 1024}
CLK_TCK = os.sysconf("SC_CLK_TCK")
STRACE = env("STRACE", "0") == "1"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ process groups
def group_ticks_split(pgid):
    """(utime, stime) in clock ticks of every live process whose process group is pgid: user and kernel time apart."""
    user = kernel = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()  # fields from 3 (state) on
        if int(fields[2]) == pgid:  # field 5: pgrp
            user += int(fields[11])  # field 14: utime
            kernel += int(fields[12])  # field 15: stime
    return user, kernel


def group_pids(pgid):
    """The live processes of process group pgid (nginx's master and its worker, or one server)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            if int(st[st.rindex(")") + 2:].split()[2]) == pgid:
                pids.append(d)
    return pids


def syscalls_per_request(pgid, url, seconds=3):
    """System calls per request of the server's group under the same wrk load, from strace -c (a run
    of its own, after the measured one: strace slows the server, so no CPU figure is taken from it)."""
    fd, out = tempfile.mkstemp(prefix="files-strace-")
    os.close(fd)
    args = ["timeout", str(seconds + 10), "strace", "-f", "-c", "-o", out]
    for pid in group_pids(pgid):
        args += ["-p", pid]
    tracer = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    nreq = wrk(url, seconds)[0]
    tracer.send_signal(signal.SIGINT)
    tracer.wait(15)
    calls = {}
    try:
        with open(out) as f:
            for line in f:
                c = line.split()
                if len(c) >= 5 and c[0][0].isdigit() and c[-1] != "total":
                    calls[c[-1]] = int(c[3])
    except OSError:
        pass
    finally:
        os.unlink(out)
    if not nreq or not calls:
        log(f"  strace: no system call counts (wrk: {nreq} requests, strace: {len(calls)} calls named)")
        return None
    return {k: v / nreq for k, v in calls.items()}


class Server:
    def __init__(self, name, kind, port, cmd, workdir, env_extra=None):
        self.name, self.kind, self.port, self.cmd = name, kind, port, cmd
        self.log = open(os.path.join(workdir, f"{name.replace(' ', '-')}-{port}.log"), "w")
        e = dict(os.environ, **(env_extra or {}))
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env=e)
        self.pgid = self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def wait_listen(self, limit=30):
        end = time.time() + limit
        while time.time() < end and self.alive():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.2)
        return False

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        # nginx's master may leave its worker behind for a moment; the group goes with it
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


STARTED = []


def stop_all(*_):
    while STARTED:
        STARTED.pop().stop()


def on_signal(sig, _frame):
    stop_all()
    sys.exit(128 + sig)


# ------------------------------------------------------------------ peers' configs
def nginx_cmd(port, docs, work):
    d = os.path.join(work, f"nginx-{port}")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = f"""{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    # nginx as its own documentation tunes it for static files: sendfile with TCP_CORK around the
    # head and body (tcp_nopush), and descriptors and stat results kept (open_file_cache, which
    # checks a file again every 60 s by default; the sample's cache checks it on every request).
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    keepalive_timeout 65;
    keepalive_requests 100000000;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ text/html html; application/octet-stream bin; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {docs};
    }}
}}
"""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(conf)
    return ["nginx", "-p", d, "-c", f"{d}/nginx.conf", "-e", f"{d}/error.log"]


def h2o_cmd(port, docs, work):
    d = os.path.join(work, f"h2o-{port}")
    os.makedirs(d, exist_ok=True)
    user = "user: root\n" if os.geteuid() == 0 else ""
    conf = f"""num-threads: 1
{user}pid-file: {d}/h2o.pid
error-log: {d}/error.log
listen:
  host: 127.0.0.1
  port: {port}
hosts:
  "default":
    paths:
      "/":
        file.dir: {docs}
"""
    with open(os.path.join(d, "h2o.conf"), "w") as f:
        f.write(conf)
    return ["h2o", "-c", f"{d}/h2o.conf"]


# ------------------------------------------------------------------ wrk
UNITS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def wrk(url, seconds):
    """Runs wrk on CLIENT_CPU; returns (requests, req/s, bytes/s, errors, client CPU s, wall s, output)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    p = subprocess.run(["timeout", str(seconds + 30), "taskset", "-c", CLIENT_CPU, "wrk", "-t1",
                        f"-c{CONNS}", f"-d{seconds}s", url], capture_output=True, text=True)
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = p.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", out)
    if p.returncode != 0 or not m:
        return None, None, None, f"wrk failed (rc={p.returncode}): {p.stderr.strip()[:200]}", 0, wall, out
    nreq = int(m.group(1))
    dur = float(m.group(2)) * {"ms": 1e-3, "s": 1, "m": 60}.get(m.group(3), 1)
    nbytes = float(m.group(4)) * UNITS.get(m.group(5), 1)
    errs = "; ".join(l.strip() for l in out.splitlines() if re.search(r"Non-2xx|Socket errors", l))
    ccpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return nreq, nreq / dur, nbytes / dur, errs, ccpu, wall, out


# ------------------------------------------------------------------ main
def main():
    run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = os.path.join(ROOT, "bench", "results")
    os.makedirs(results, exist_ok=True)
    tsv_path = os.path.join(results, f"files-{run_id}.tsv")
    work = tempfile.mkdtemp(prefix="asyncore-files-")
    atexit.register(shutil.rmtree, work, True)
    docs = os.path.join(work, "docs")
    os.makedirs(docs)
    for name, size in SIZES.items():
        with open(os.path.join(docs, f"{name}.bin"), "wb") as f:
            f.write(os.urandom(size))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exe = os.path.join(BUILD, "HttpServer")
    if not os.access(exe, os.X_OK):
        log(f"missing {exe} (bench/files.sh publishes it)")
        return 2

    port = BASE_PORT
    servers = {}  # (server, 'files'|'page') -> Server

    def start(key, name, kind, mkcmd, extra=None):
        nonlocal port
        while True:
            try:
                s = socket.socket(); s.bind(("127.0.0.1", port)); s.close(); break
            except OSError:
                port += 1
        srv = Server(name, kind, port, mkcmd(port), work, extra)
        STARTED.append(srv)
        port += 1
        if not srv.wait_listen():
            log(f"{name}: did not start (see {srv.log.name})")
            return None
        log(f"started {name} on 127.0.0.1:{srv.port} (pid {srv.pgid})")
        servers[key] = srv
        return srv

    try:
        for b in ("epoll", "io_uring"):
            if b not in SERVERS:
                continue
            def ours(port, root, b=b):
                return ([exe, "--host", "127.0.0.1", "--port", str(port)] + (["--root", docs] if root else [])
                        + ["--quiet", "--loops", "1", "--poller", b])
            if any(t in SIZES for t in TARGETS):
                start((b, "files"), f"ours {b}", "dotnet", lambda port, f=ours: f(port, True))
            if "page" in TARGETS:
                start((b, "page"), f"ours {b} (built-in page)", "dotnet", lambda port, f=ours: f(port, False))
        # the built-in page's bytes, for nginx and h2o to serve as a file
        page_src = servers.get(("epoll", "page")) or servers.get(("io_uring", "page"))
        if page_src:
            body = subprocess.run(["curl", "-s", "-m", "5", f"http://127.0.0.1:{page_src.port}/"],
                                  capture_output=True).stdout
            with open(os.path.join(docs, "page.html"), "wb") as f:
                f.write(body)
            log(f"built-in page: {len(body)} bytes")
        if "nginx" in SERVERS:
            start(("nginx", "files"), "nginx", "peer", lambda port: nginx_cmd(port, docs, work))
            servers[("nginx", "page")] = servers.get(("nginx", "files"))
        if "h2o" in SERVERS:
            start(("h2o", "files"), "h2o", "peer", lambda port: h2o_cmd(port, docs, work))
            servers[("h2o", "page")] = servers.get(("h2o", "files"))
    except Exception:
        stop_all()
        raise
    def url(srv_name, target):
        srv = servers.get((srv_name, "page" if target == "page" else "files"))
        if srv is None:
            return None, None
        path = "/" if target == "page" and srv.kind == "dotnet" else ("/page.html" if target == "page" else f"/{target}.bin")
        return srv, f"http://127.0.0.1:{srv.port}{path}"

    # check every URL once: status and length
    checks = {}
    for s in SERVERS:
        for t in TARGETS:
            srv, u = url(s, t)
            if not srv:
                continue
            p = subprocess.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", u],
                               capture_output=True, text=True)
            want = SIZES.get(t) or os.path.getsize(os.path.join(docs, "page.html"))
            if p.stdout.strip() != f"200 {want}":
                checks[(s, t)] = f"check: got '{p.stdout.strip()}', wanted '200 {want}'"
                log(f"{s} {t}: {checks[(s, t)]}")

    # JIT warm-up of the .NET servers, over every target they serve
    for key, srv in list(servers.items()):
        if srv and srv.kind == "dotnet" and JIT_WARMUP > 0:
            ts = [t for t in TARGETS if (t == "page") == (key[1] == "page")]
            log(f"JIT warm-up {JIT_WARMUP} s: {srv.name} ({', '.join(ts)})")
            for t in ts:
                wrk(url(key[0], t)[1], max(1, JIT_WARMUP // len(ts)))

    load = open("/proc/loadavg").read().split()[:3]
    with open(tsv_path, "w") as out:
        def versions():
            ng = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().split(": ")[-1]
            h2 = subprocess.run(["h2o", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
            dn = subprocess.run(["dotnet", "--version"], capture_output=True, text=True).stdout.strip()
            return f"{ng}; {h2}; dotnet SDK {dn}; kernel {os.uname().release}"
        out.write(f"# run\tfiles-{run_id}\n# date\t{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average at start {' '.join(load)}\n")
        out.write(f"# versions\t{versions()}\n")
        out.write(f"# params\tservers on CPU {SERVER_CPU}, wrk -t1 -c{CONNS} -d{DURATION}s on CPU {CLIENT_CPU}; "
                  f"{PASSES} passes; warm-up {WARMUP} s per run, JIT warm-up {JIT_WARMUP} s per .NET server\n")
        out.write("# columns\tpass\ttarget\tserver\trequests\treq_per_s\tbytes_per_s\tserver_cpu_us_per_req\tserver_cpu_pct\tclient_cpu_pct\tnote\tload1\tserver_user_us_per_req\tserver_kernel_us_per_req\n")
        order = [s for s in SERVERS if any(k[0] == s for k in servers)]
        for p in range(1, PASSES + 1):
            rot = order[(p - 1) % len(order):] + order[:(p - 1) % len(order)]
            for t in TARGETS:
                log(f"[pass {p}/{PASSES}] {t}")
                for s in rot:
                    srv, u = url(s, t)
                    if srv is None:
                        continue
                    if not srv.alive():
                        out.write(f"{p}\t{t}\t{s}\t\t\t\t\t\t\tserver exited\n"); continue
                    if WARMUP > 0:
                        wrk(u, WARMUP)
                    u0, k0 = group_ticks_split(srv.pgid)
                    nreq, rps, bps, errs, ccpu, wall, _ = wrk(u, DURATION)
                    u1, k1 = group_ticks_split(srv.pgid)
                    ticks = (u1 - u0) + (k1 - k0)
                    note = "; ".join(x for x in (checks.get((s, t)), errs) if x)
                    if nreq is None:
                        out.write(f"{p}\t{t}\t{s}\t\t\t\t\t\t\t{note}\n"); log(f"  {s}: {note}"); continue
                    us = ticks / CLK_TCK / nreq * 1e6
                    scpu = ticks / CLK_TCK / wall * 100
                    cc = ccpu / wall * 100
                    log(f"  {s:9} {rps:10.0f} req/s {bps / 1e9:6.2f} GB/s  {us:8.2f} us/req  (server CPU {scpu:.0f}%, client {cc:.0f}%){' ' + note if note else ''}")
                    load1 = open("/proc/loadavg").read().split()[0]
                    uus, kus = (u1 - u0) / CLK_TCK / nreq * 1e6, (k1 - k0) / CLK_TCK / nreq * 1e6
                    out.write(f"{p}\t{t}\t{s}\t{nreq}\t{rps:.0f}\t{bps:.0f}\t{us:.2f}\t{scpu:.0f}\t{cc:.0f}\t{note}\t{load1}\t{uus:.2f}\t{kus:.2f}\n")
                    out.flush()
                    if STRACE and p == 1:
                        per = syscalls_per_request(srv.pgid, u)
                        if per:
                            top = sorted(((k, v) for k, v in per.items() if v >= 0.001), key=lambda kv: -kv[1])
                            out.write(f"# syscalls\t{t}\t{s}\t" + " ".join(f"{k}={v:.3f}" for k, v in top) + "\n")
                            out.flush()
    stop_all()
    shutil.rmtree(work, ignore_errors=True)
    md = summarize(tsv_path)
    with open(tsv_path[:-4] + ".md", "w") as f:
        f.write(md)
    print(md)
    log(f"results: {tsv_path} and .md")
    return 0


# ------------------------------------------------------------------ summary
def fmt(v, d=2):
    return "–" if v is None else f"{v:.{d}f}"


def summarize(path):
    rows, head = [], []
    for line in open(path, encoding="utf-8"):
        if line.startswith("#"):
            head.append(line.rstrip("\n").split("\t", 1))
            continue
        f = line.rstrip("\n").split("\t")
        rows.append(f)
    us, rps, bps, uus, kus = {}, {}, {}, {}, {}
    for f in rows:
        p, t, s = int(f[0]), f[1], f[2]
        if f[6]:
            us[(p, t, s)] = float(f[6]); rps[(p, t, s)] = float(f[4]); bps[(p, t, s)] = float(f[5])
        if len(f) > 12 and f[11] and f[12]:  # runs since the user/kernel split was recorded
            uus[(p, t, s)] = float(f[11]); kus[(p, t, s)] = float(f[12])
    passes = sorted({k[0] for k in us})
    targets = [t for t in ["1k", "64k", "1m", "page"] if any(k[1] == t for k in us)]
    names = {"1k": "1 KiB", "64k": "64 KiB", "1m": "1 MiB", "page": "built-in page"}

    def med(d, t, s):
        v = [d[(p, t, s)] for p in passes if (p, t, s) in d]
        return statistics.median(v) if v else None

    def per(d, t, s):
        return [d.get((p, t, s)) for p in passes]

    def ratio(t, a, b):
        r = [us[(p, t, a)] / us[(p, t, b)] for p in passes if (p, t, a) in us and (p, t, b) in us and us[(p, t, b)]]
        return (statistics.median(r) if r else None), r

    out = [f"# {dict(head).get('# run', '')}", ""]
    out += [f"- {k[2:]}: {v}" for k, v in head if k not in ("# run", "# columns", "# syscalls")]
    def server_table(intro, cell):
        """A table with a row per target and a column per server; cell(target, server) fills it."""
        rows = ["", *intro, "", "| target | ours epoll | ours io_uring | nginx | h2o |", "|---|---:|---:|---:|---:|"]
        for t in targets:
            rows.append(f"| {names[t]} | " + " | ".join(cell(t, s) for s in ["epoll", "io_uring", "nginx", "h2o"]) + " |")
        return rows

    out += server_table(["Server CPU µs per request: median of the passes (each pass's figure in brackets)."],
                        lambda t, s: f"{fmt(med(us, t, s))} ({', '.join(fmt(x) for x in per(us, t, s))})")
    out += ["", "Ratios of server CPU per request, median of per-pass ratios (each pass's ratio in brackets; lower is better).", "",
            "| target | epoll ÷ nginx | epoll ÷ h2o | io_uring ÷ nginx | io_uring ÷ h2o |", "|---|---:|---:|---:|---:|"]
    for t in targets:
        cells = []
        for a in ["epoll", "io_uring"]:
            for b in ["nginx", "h2o"]:
                m, r = ratio(t, a, b)
                cells.append(f"**{fmt(m)}** ({', '.join(fmt(x) for x in r)})")
        out.append(f"| {names[t]} | " + " | ".join(cells) + " |")
    out += server_table(["Throughput, median of the passes: requests/s and GB/s (10^9 bytes/s of response, headers included)."],
                        lambda t, s: "–" if med(rps, t, s) is None else f"{med(rps, t, s):,.0f} req/s, {med(bps, t, s) / 1e9:.2f} GB/s")
    if uus:
        out += server_table(["Where the server's CPU per request goes: user + kernel µs, median of the passes (clock ticks, so a",
                             "figure under a few µs is coarse)."],
                            lambda t, s: "–" if med(uus, t, s) is None else f"{med(uus, t, s):.2f} + {med(kus, t, s):.2f}")
    sc = [h[1].split("\t") for h in head if h[0] == "# syscalls"]
    if sc:
        out += ["", "System calls per request (STRACE=1: strace -c -f on the server's processes over a 3 s wrk run of", "its own after the server's pass-1 run; calls that ran under 0.001 times a request are left out).", "",
                "| target | server | calls per request |", "|---|---|---|"]
        order = {t: i for i, t in enumerate(["1k", "64k", "1m", "page"])}
        for t, srv, calls in sorted(sc, key=lambda r: (order.get(r[0], 9), ["epoll", "io_uring", "nginx", "h2o"].index(r[1]) if r[1] in ("epoll", "io_uring", "nginx", "h2o") else 9)):
            shown = " ".join(c for c in calls.split() if float(c.split("=")[1]) >= 0.001)
            out.append(f"| {names.get(t, t)} | {srv} | {shown} |")
    notes = [f"pass {f[0]} {f[1]} {f[2]}: {f[9]}" for f in rows if len(f) > 9 and f[9]]
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--summary":
        for pth in sys.argv[2:]:
            print(summarize(pth))
        sys.exit(0)
    try:
        sys.exit(main())
    finally:
        stop_all()
