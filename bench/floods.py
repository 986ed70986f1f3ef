#!/usr/bin/env python3
"""Clients that never read, against each sample: how much memory the server takes, and gives back.

For each sample server (built with `dotnet build -c Release`), on 127.0.0.1:
  1. start it, let it settle, read its RSS (the idle baseline);
  2. flood it from clients that send and never read their answers, for --seconds;
     meanwhile sample its RSS every 100 ms (the peak) and check that a well-behaved client is
     still answered;
  3. close the flooding clients, then read its RSS every second for --after seconds: what it gave
     back, and how long it took to come back within 2x its idle RSS (the mark: within a minute).
Every flood is bounded in bytes and time. Prints a markdown table (and writes it to --out).

The bursts (`ping-burst`, `http-burst`) are many clients at once, each sending 1 MB and never
reading, then leaving; `--peers` runs the same burst against redis-server (PING) and nginx
(a small page) in the same pass, each a single process on 127.0.0.1.

    python3 bench/floods.py                      # the four samples, one client each
    python3 bench/floods.py --only http,ping     # some
    python3 bench/floods.py --only ping-burst,http-burst --peers --after 60
"""
import argparse, os, socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchutil import ROOT, free_port  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def wait_port(port, proc, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("server exited with code %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def exchange(port, send, expect, timeout=5.0):
    """A well-behaved client: send, read until `expect` appears (or timeout)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(send)
        got = b""
        end = time.time() + timeout
        while expect not in got and time.time() < end:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        return expect in got
    except OSError:
        return False


def flood(port, payload, total, clients, seconds, stop):
    """`clients` connections each send `payload` repeatedly up to `total` bytes, never reading."""
    socks = []
    def one():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            socks.append(s)
            block = payload * max(1, 65536 // len(payload))
            sent = 0
            end = time.time() + seconds
            while sent < total and time.time() < end and not stop.is_set():
                try:
                    sent += s.send(block[: total - sent])
                except socket.timeout:
                    break
        except OSError:
            pass
    ts = [threading.Thread(target=one, daemon=True) for _ in range(clients)]
    for t in ts:
        t.start()
    return ts, socks


def run(name, argv, port, payload, total, clients, probe, seconds, after):
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc)
        time.sleep(3)
        idle = rss_mib(proc.pid)
        stop = threading.Event()
        ts, socks = flood(port, payload, total, clients, seconds, stop)
        peak = idle
        served = []
        end = time.time() + seconds
        next_probe = time.time() + seconds / 2
        while time.time() < end:
            peak = max(peak, rss_mib(proc.pid))
            if time.time() >= next_probe and not served:
                served.append(exchange(port, *probe))
            time.sleep(0.1)
        stop.set()
        for t in ts:
            t.join(5)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        peak = max(peak, rss_mib(proc.pid))
        left = time.time()
        within = None  # seconds after the clients left until RSS was within 2x idle
        while True:
            now = time.time() - left
            r = rss_mib(proc.pid)
            if within is None and r <= 2 * idle:
                within = now
            if now >= after:
                break
            time.sleep(min(1.0, after - now))
        back = rss_mib(proc.pid)
        alive = proc.poll() is None and exchange(port, *probe)
        return dict(name=name, idle=idle, peak=peak, back=back, within=within, served=bool(served and served[0]), alive=alive)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


NGINX_CONF = """daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    server {{ listen 127.0.0.1:{port}; root {www}; }}
}}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20, help="how long each flood lasts (default 20)")
    ap.add_argument("--after", type=float, default=60, help="seconds to watch RSS after a flood (default 60)")
    ap.add_argument("--only", default="http,ping,smtp,line", help="floods: http, ping, smtp, line (one client each), ping-burst, http-burst")
    ap.add_argument("--clients", type=int, default=200, help="clients in a burst (default 200)")
    ap.add_argument("--per-client", type=int, default=1_000_000, help="bytes each burst client sends (default 1 MB)")
    ap.add_argument("--peers", action="store_true", help="run the bursts against redis-server and nginx too")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    for s in ("HttpServer", "PingServer", "SmtpServer", "LineServer"):
        subprocess.run(["dotnet", "build", "-c", "Release", "-v", "q", "--nologo", os.path.join(ROOT, "samples", s)], check=True, stdout=subprocess.DEVNULL)
    exe = lambda s: os.path.join(ROOT, "samples", s, "bin", "Release", "net10.0", s)
    rows = []
    www = tempfile.mkdtemp()
    with open(os.path.join(www, "f.bin"), "wb") as f:
        f.write(os.urandom(64 * 1024))
    with open(os.path.join(www, "small.html"), "w") as f:
        f.write("<!DOCTYPE html><html><head><title>small</title></head><body>" + "<p>a small page</p>" * 28 + "</body></html>\n")
    maildir = tempfile.mkdtemp()
    only = a.only.split(",")
    if "http" in only:
        p = free_port()
        get = b"GET /f.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        rows.append(run("HttpServer: 8 clients pipeline 2,000 GETs of a 64 KiB file each, never reading",
                        [exe("HttpServer"), "--port", str(p), "--root", www, "--quiet"], p,
                        get, 2000 * len(get), 8, (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"200"), a.seconds, a.after))
    if "ping" in only:
        p = free_port()
        rows.append(run("PingServer: 12 MB of `X\\r\\n`, never reading", [exe("PingServer"), "--port", str(p)], p,
                        b"X\r\n", 12_000_000, 1, (b"PING\r\n", b"+PONG"), a.seconds, a.after))
    if "smtp" in only:
        p = free_port()
        rows.append(run("SmtpServer: 12 MB of `HELP\\r\\n`, never reading", [exe("SmtpServer"), "--port", str(p), "--maildir", maildir], p,
                        b"HELP\r\n", 12_000_000, 1, (b"NOOP\r\n", b"250"), a.seconds, a.after))
    if "line" in only:
        p = free_port()
        rows.append(run("LineServer: 12 MB of `a\\r\\n`, never reading", [exe("LineServer"), "--port", str(p)], p,
                        b"a\r\n", 12_000_000, 1, (b"hi\r\n", b"echo: hi"), a.seconds, a.after))
    burst = "%d clients, %s MB of %%s each, never reading" % (a.clients, format(a.per_client / 1e6, "g"))
    if "ping-burst" in only:
        ping = (b"PING\r\n", b"+PONG")
        p = free_port()
        rows.append(run("PingServer: " + burst % "`PING\\r\\n`", [exe("PingServer"), "--port", str(p)], p,
                        b"PING\r\n", a.per_client, a.clients, ping, a.seconds, a.after))
        if a.peers:
            p = free_port()
            rows.append(run("redis-server: " + burst % "`PING\\r\\n`",
                            ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--daemonize", "no", "--maxclients", "1000"], p,
                            b"PING\r\n", a.per_client, a.clients, ping, a.seconds, a.after))
    if "http-burst" in only:
        get = b"GET /small.html HTTP/1.1\r\nHost: x\r\n\r\n"
        probe = (get, b"200")
        p = free_port()
        rows.append(run("HttpServer: " + burst % "pipelined `GET /small.html`", [exe("HttpServer"), "--port", str(p), "--root", www, "--quiet"], p,
                        get, a.per_client, a.clients, probe, a.seconds, a.after))
        if a.peers:
            p = free_port()
            d = tempfile.mkdtemp()
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write(NGINX_CONF.format(d=d, port=p, www=www))
            rows.append(run("nginx: " + burst % "pipelined `GET /small.html`", ["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d], p,
                            get, a.per_client, a.clients, probe, a.seconds, a.after))
    lines = ["| flood | idle RSS MiB | peak RSS MiB | RSS MiB %g s after | within 2x idle after | others served during it | alive after |" % a.after,
             "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append("| %s | %.0f | %.0f | %.0f | %s | %s | %s |" % (
            r["name"], r["idle"], r["peak"], r["back"], "%.0f s" % r["within"] if r["within"] is not None else "NO (> %g s)" % a.after,
            "yes" if r["served"] else "NO", "yes" if r["alive"] else "NO"))
    table = "\n".join(lines)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table + "\n")
    ours = [r for r in rows if not r["name"].startswith(("redis-server", "nginx"))]
    ok = all(r["peak"] <= 256 or burst.split(",")[0] in r["name"] for r in ours) and all(r["served"] and r["alive"] for r in ours)
    back = all(r["within"] is not None and r["within"] <= 60 for r in ours)
    print("served others throughout" if ok else "SOME FLOOD WENT OVER 256 MiB OR STOPPED SERVING")
    print("every sample back within 2x its idle RSS within a minute" if back else "SOME SAMPLE DID NOT COME BACK WITHIN 2x ITS IDLE RSS WITHIN A MINUTE")
    return 0 if ok and back else 1


if __name__ == "__main__":
    sys.exit(main())
