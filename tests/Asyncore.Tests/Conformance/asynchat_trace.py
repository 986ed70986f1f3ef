"""Runs CPython's own async_chat.handle_read over scripted chunks and prints the event trace.

Input (stdin, JSON): a list of cases {"chunks": [hex, ...], "program": [term, ...]} where a term
is {"b": hex} (bytes), {"n": int} (count) or null. The channel starts with program[0] and moves to
the next term (cycling) inside every found_terminator call.
Output (stdout, JSON): one trace per case, a list of ["c", hex] (collect_incoming_data) and
["f", term] (found_terminator, with the terminator as it was when called).
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")
import asynchat  # noqa: E402


def decode(t):
    if t is None:
        return None
    if "b" in t:
        return bytes.fromhex(t["b"])
    return t["n"]


def encode(t):
    if t is None:
        return None
    if isinstance(t, int):
        return {"n": t}
    return {"b": t.hex()}


class Scripted(asynchat.async_chat):
    def __init__(self, chunks, program):
        asynchat.async_chat.__init__(self, map={})
        self.chunks = list(chunks)
        self.program = program
        self.step = 0
        self.trace = []
        self.set_terminator(program[0])

    def recv(self, n):
        return self.chunks.pop(0)

    def collect_incoming_data(self, data):
        self.trace.append(["c", bytes(data).hex()])

    def found_terminator(self):
        self.trace.append(["f", encode(self.get_terminator())])
        self.step += 1
        self.set_terminator(self.program[self.step % len(self.program)])


def main():
    cases = json.load(sys.stdin)
    out = []
    for case in cases:
        chunks = [bytes.fromhex(c) for c in case["chunks"]]
        program = [decode(t) for t in case["program"]]
        ch = Scripted(chunks, program)
        while ch.chunks:
            ch.handle_read()
        out.append(ch.trace)
    json.dump(out, sys.stdout)


main()
