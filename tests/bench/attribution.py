#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Attribution latency of accepted connections (issue 18.2: within 10 ms p99).

For N connections made and accepted by this process, measures from accept() returning:
  list:  until `list --pid self` (control socket) names the accepted socket with this pid
         (the daemon drains the kernel ring before it answers a list);
  event: until a subscriber receives the event (added or owner-changed) that names this pid.
Run against a porteyed started with --socket PATH and the event source on:
    tests/bench/attribution.py PATH [N] [--events-only]
Prints one JSON object with p50/p99/max of each, in milliseconds.
"""
import json
import os
import select
import socket
import statistics
import sys
import time


class Rpc:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def send(self, method, params):
        rid = self.next_id
        self.next_id += 1
        self.sock.sendall((json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}) + "\n").encode())
        return rid

    def messages(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if r:
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("porteyed closed the socket")
            self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            yield json.loads(line)

    def call(self, method, params):
        rid = self.send(method, params)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for msg in self.messages(0.5):
                if msg.get("id") == rid:
                    return msg.get("result")
        raise TimeoutError(method)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    ask = "--events-only" not in sys.argv  # else the events alone, without a list draining the ring
    me = os.getpid()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(64)
    port = lst.getsockname()[1]
    query = Rpc(path)
    sub = Rpc(path)
    sub.call("events", {"port": port})
    time.sleep(1.5)  # the listener reaches the table (its own event), not part of what is measured
    list_ms, event_ms, misses = [], [], 0
    for _ in range(n):
        client = socket.create_connection(("127.0.0.1", port))
        conn, peer = lst.accept()
        t0 = time.monotonic()
        rows = query.call("list", {"pid": me, "port": port}) if ask else []
        t1 = time.monotonic()
        if any(r["local_port"] == port and r["remote_port"] == peer[1] for r in rows):
            list_ms.append((t1 - t0) * 1000)
        else:
            misses += 1
        got = None
        deadline = t0 + 2
        while got is None and time.monotonic() < deadline:
            for msg in sub.messages(0.05):
                p = msg.get("params", {})
                r = p.get("record", {})
                if msg.get("method") == "event" and r.get("local_port") == port and \
                        r.get("remote_port") == peer[1] and r.get("pid") == me:
                    got = time.monotonic()
        if got is not None:
            event_ms.append((got - t0) * 1000)
        conn.close()
        client.close()
        time.sleep(0.005)
    out = {"connections": n, "list_misses": misses if ask else None, "event_misses": n - len(event_ms)}
    for name, v in (("list", list_ms), ("event", event_ms)):
        if v:
            out[name] = {"p50_ms": round(statistics.median(v), 3), "p99_ms": round(pct(v, 99), 3),
                         "max_ms": round(max(v), 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
