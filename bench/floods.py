#!/usr/bin/env python3
"""Clients that never read, against each sample: how much memory the server takes, and gives back.

For each sample server (built with `dotnet build -c Release`), on 127.0.0.1:
  1. start it, let it settle, read its RSS (the idle baseline);
  2. flood it from clients that send and never read their answers, for --seconds;
     meanwhile sample its RSS every 100 ms (the peak) and check that a well-behaved client is
     still answered;
  3. close the flooding clients, wait --after seconds, read its RSS again (what it gave back).
Every flood is bounded in bytes and time. Prints a markdown table (and writes it to --out).

    python3 bench/floods.py                      # all four samples
    python3 bench/floods.py --only http,ping     # some
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
            raise RuntimeError("server exited: " + proc.stdout.read().decode(errors="replace"))
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
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
        time.sleep(after)
        back = rss_mib(proc.pid)
        alive = proc.poll() is None and exchange(port, *probe)
        return dict(name=name, idle=idle, peak=peak, back=back, served=bool(served and served[0]), alive=alive)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20, help="how long each flood lasts (default 20)")
    ap.add_argument("--after", type=float, default=30, help="seconds to wait after a flood before reading RSS again (default 30)")
    ap.add_argument("--only", default="http,ping,smtp,line")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    for s in ("HttpServer", "PingServer", "SmtpServer", "LineServer"):
        subprocess.run(["dotnet", "build", "-c", "Release", "-v", "q", "--nologo", os.path.join(ROOT, "samples", s)], check=True, stdout=subprocess.DEVNULL)
    exe = lambda s: os.path.join(ROOT, "samples", s, "bin", "Release", "net10.0", s)
    rows = []
    www = tempfile.mkdtemp()
    with open(os.path.join(www, "f.bin"), "wb") as f:
        f.write(os.urandom(64 * 1024))
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
    lines = ["| flood | idle RSS MiB | peak RSS MiB | RSS MiB %g s after | others served during it | alive after |" % a.after,
             "|---|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append("| %s | %.0f | %.0f | %.0f | %s | %s |" % (r["name"], r["idle"], r["peak"], r["back"],
                                                             "yes" if r["served"] else "NO", "yes" if r["alive"] else "NO"))
    table = "\n".join(lines)
    print(table)
    if a.out:
        with open(a.out, "w") as f:
            f.write(table + "\n")
    ok = all(r["peak"] <= 256 and r["served"] and r["alive"] for r in rows)
    print("all within 256 MiB and serving others" if ok else "SOME FLOOD WENT OVER 256 MiB OR STOPPED SERVING")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
