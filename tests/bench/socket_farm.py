#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Socket farm for tests/bench/compare.sh: N established loopback TCP connections
plus listeners, held by a few worker processes, and one "target" process holding
~100 sockets for the per-PID comparisons.

Worker i listens on 127.0.0.1 ports and connects to worker (i+1)'s listeners, so
the client end of a connection and its accepted end belong to different processes
(2 sockets per connection, 2*N socket fds in all). Run it in a throw-away network
namespace (compare.sh does): it widens ip_local_port_range there.

When everything is up it writes a JSON line to --ready-file:
  {"connections": C, "requested": N, "workers": [pids], "target": pid, "target_sockets": S,
   "listeners": L, "error": "..." (only when fewer than N could be made)}
and then sleeps until SIGTERM/SIGINT (or stdin closes with --exit-on-stdin-eof).
"""
import argparse
import json
import os
import resource
import signal
import socket
import struct
import sys
import threading
import time

PER_LISTENER = 16000  # connections per listening port (well under the ephemeral range)


def raise_nofile(want):
    """Raise RLIMIT_NOFILE to `want` (root may lift the hard limit up to fs.nr_open)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        nr_open = int(open("/proc/sys/fs/nr_open").read())
    except OSError:
        nr_open = hard
    target = min(max(want, soft), nr_open)
    for limits in ((target, max(target, hard)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listen_ports(count):
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(4096)
        socks.append(s)
    return socks


def acceptor(listener, sink, stop):
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
            sink.append(conn)
        except socket.timeout:
            continue
        except OSError:
            if stop.is_set():
                return
            time.sleep(0.01)


def worker(index, conns, expected_accepts, listeners_needed, port_pipe_w, peer_pipe_r, result_pipe_w):
    """One farm process: listen, announce ports, connect to the peer's ports, report."""
    raise_nofile(conns + expected_accepts + listeners_needed + 1024)
    listeners = listen_ports(listeners_needed)
    held = []
    stop = threading.Event()
    threads = [threading.Thread(target=acceptor, args=(l, held, stop), daemon=True) for l in listeners]
    for t in threads:
        t.start()
    os.write(port_pipe_w, (json.dumps([l.getsockname()[1] for l in listeners]) + "\n").encode())
    peer_ports = json.loads(os.fdopen(peer_pipe_r).readline())
    error = ""
    made = 0
    clients = []
    for k in range(conns):
        port = peer_ports[k % len(peer_ports)]
        try:
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            error = f"worker {index}: socket #{k}: {e}"
            break
        try:
            c.connect(("127.0.0.1", port))
        except OSError as e:
            c.close()
            error = f"worker {index}: connect #{k}: {e}"
            break
        clients.append(c)
        made += 1
    # Wait for our acceptors to take the previous worker's connections (or stop growing).
    last, since = -1, time.monotonic()
    while len(held) < expected_accepts and time.monotonic() - since < 2.0:
        if len(held) != last:
            last, since = len(held), time.monotonic()
        time.sleep(0.05)
    os.write(result_pipe_w, (json.dumps({"index": index, "made": made, "accepted": len(held),
                                         "error": error}) + "\n").encode())
    # Keep accepting until told to stop: our listeners still receive the previous worker's connects.
    signal.signal(signal.SIGTERM, lambda *_: exit_now(held + clients))
    while True:
        signal.pause()


RST_ON_EXIT = False


def exit_now(sockets):
    """Exits at once; with --rst-on-exit closes `sockets` with an RST first, so the namespace is not
    left with a TIME_WAIT socket per connection for 60 s (which later measurements would dump)."""
    if RST_ON_EXIT:
        rst = struct.pack("ii", 1, 0)
        for s in sockets:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, rst)
            except OSError:
                pass
    os._exit(0)


def target_process(pairs, result_pipe_w):
    """The per-PID subject: one listener and `pairs` self-connections (both ends held)."""
    listener = listen_ports(1)[0]
    port = listener.getsockname()[1]
    held = [listener]
    for _ in range(pairs):
        c = socket.create_connection(("127.0.0.1", port))
        s, _ = listener.accept()
        held += [c, s]
    os.write(result_pipe_w, (json.dumps({"target_sockets": len(held)}) + "\n").encode())
    signal.signal(signal.SIGTERM, lambda *_: exit_now(held))
    while True:
        signal.pause()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=10000, help="established connections (2 sockets each)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--target-pairs", type=int, default=50, help="self-connections of the per-PID target")
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--rst-on-exit", action="store_true",
                    help="close every connection with an RST on SIGTERM (no TIME_WAIT left behind)")
    args = ap.parse_args()
    global RST_ON_EXIT
    RST_ON_EXIT = args.rst_on_exit

    try:  # only inside our own namespace: a wider ephemeral range for 100k connections
        with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
            f.write("1024 65535")
    except OSError:
        pass

    # Each worker holds its clients and the previous worker's accepted ends (~2N/W fds):
    # spread the farm over enough processes to stay under RLIMIT_NOFILE (the hard limit
    # cannot be raised without CAP_SYS_RESOURCE).
    nofile = raise_nofile(1 << 20)
    n = args.connections
    w = max(2, args.workers, -(-2 * n // max(1000, nofile - 1500)))
    per = [n // w + (1 if i < n % w else 0) for i in range(w)]
    port_pipes = [os.pipe() for _ in range(w)]  # worker i -> parent: its ports
    peer_pipes = [os.pipe() for _ in range(w)]  # parent -> worker i: its peer's ports
    result_r, result_w = os.pipe()
    pids = []
    for i in range(w):
        listeners = max(1, -(-per[(i - 1) % w] // PER_LISTENER))  # serves the previous worker's connects
        pid = os.fork()
        if pid == 0:
            try:
                worker(i, per[i], per[(i - 1) % w], listeners, port_pipes[i][1], peer_pipes[i][0], result_w)
            except BaseException as e:  # report instead of leaving the parent waiting
                os.write(result_w, (json.dumps({"index": i, "made": 0, "error": f"worker {i}: {e!r}"}) + "\n").encode())
            finally:
                os._exit(1)
        pids.append(pid)
    for i in range(w):
        os.close(port_pipes[i][1])  # so a worker that died shows as EOF, not a hang
    ports = [json.loads(os.fdopen(port_pipes[i][0]).readline()) for i in range(w)]
    for i in range(w):
        os.write(peer_pipes[i][1], (json.dumps(ports[(i + 1) % w]) + "\n").encode())

    tpid = os.fork()
    if tpid == 0:
        try:
            target_process(args.target_pairs, result_w)
        finally:
            os._exit(1)

    results = []
    with os.fdopen(result_r) as results_in:
        while len(results) < w + 1:
            line = results_in.readline()
            if not line:
                break
            results.append(json.loads(line))
    made = sum(r.get("made", 0) for r in results)
    accepted = sum(r.get("accepted", 0) for r in results)
    errors = [r["error"] for r in results if r.get("error")]
    target_sockets = next((r["target_sockets"] for r in results if "target_sockets" in r), 0)
    ready = {"connections": made, "accepted": accepted, "requested": n, "workers": pids, "target": tpid,
             "target_sockets": target_sockets,
             "listeners": sum(len(p) for p in ports) + 1,
             "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
    if errors:
        ready["error"] = "; ".join(errors)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(ready) + "\n")
    os.rename(tmp, args.ready_file)

    def stop(*_):
        for pid in pids + [tpid]:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in pids + [tpid]:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
