#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Driver of tests/bench/events.sh (issue 11 targets, issue 10 per-namespace cost).

Runs inside the private network namespace events.sh made (`unshare -n`), as root, and prints
a markdown report on stdout (progress on stderr). `nscost` is the part run in a further pid
namespace (`unshare -p -f --mount-proc`), so that porteyed follows only the namespaces this
benchmark makes, not the shared host's.
"""
import argparse
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"events.sh: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- process accounting

def stat_cpu(pid):
    """utime+stime of a process (all its threads), seconds, from /proc/PID/stat (clock ticks)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError):
        return 0.0


def sched_cpu(pid):
    """CPU of a process from its threads' se.sum_exec_runtime (ms, µs precision); None if unavailable."""
    total, seen = 0.0, False
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/sched") as f:
                for line in f:
                    if line.startswith("se.sum_exec_runtime"):
                        total += float(line.split(":")[1])
                        seen = True
                        break
        except OSError:
            continue
    return total / 1e3 if seen else None


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(entry))
    return out


def tree_cpu(pid):
    """CPU seconds of a process and its children (porteyed and the netns helper it spawned)."""
    pids = [pid] + children_of(pid)
    total = 0.0
    for p in pids:
        s = sched_cpu(p)
        total += s if s is not None else stat_cpu(p)
    return total


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


# ---------------------------------------------------------------- porteyed

class Rpc:
    """Newline JSON-RPC over the control socket (blocking, with a small read buffer)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def call(self, method, params=None, timeout=30):
        rid = self.next_id
        self.next_id += 1
        req = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            req["params"] = params
        self.sock.sendall((json.dumps(req) + "\n").encode())
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                msg = json.loads(line)
                if msg.get("id") == rid:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg["result"]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(method)
            self.sock.settimeout(left)
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("porteyed closed the control socket")
            self.buf += data

    def close(self):
        self.sock.close()


class Daemon:
    def __init__(self, args, work, name, extra, bus=True):
        self.work = work
        self.sock_path = os.path.join(work, f"{name}.sock")
        state = os.path.join(work, f"state-{name}")
        shutil.rmtree(state, ignore_errors=True)
        os.makedirs(state)
        argv = [args.porteyed, "--config", args.empty_conf, "--socket", self.sock_path, "--state-dir", state,
                "--expected-dir", os.path.join(work, "no-expected-rules")]
        if bus and args.bus_address:
            argv += ["--bus", "session", "--bus-address", args.bus_address]
        else:
            argv += ["--no-bus"]
        self.argv = argv + extra
        self.logf = open(os.path.join(work, f"{name}.log"), "w")
        self.proc = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 120
        self.rpc = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"porteyed exited ({self.proc.returncode}); see {self.logf.name}")
            try:
                self.rpc = Rpc(self.sock_path)
                break
            except OSError:
                time.sleep(0.05)
        if self.rpc is None:
            raise RuntimeError("porteyed did not open its control socket")

    def status(self):
        return self.rpc.call("status")

    def wait_polls(self, n, timeout=180):
        start = self.status()["polls"]
        deadline = time.monotonic() + timeout
        while self.status()["polls"] < start + n:
            if time.monotonic() > deadline:
                raise TimeoutError("polls")
            time.sleep(0.1)

    def cpu(self):
        return tree_cpu(self.pid)

    def stop(self):
        if self.rpc:
            self.rpc.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def measure_idle(daemon, seconds):
    """Daemon CPU per second (and per poll) over `seconds` of nothing happening."""
    s0, c0, t0 = daemon.status(), daemon.cpu(), time.monotonic()
    time.sleep(seconds)
    s1, c1, t1 = daemon.status(), daemon.cpu(), time.monotonic()
    polls = s1["polls"] - s0["polls"]
    return {"cpu_s": c1 - c0, "seconds": t1 - t0, "cpu_per_s": (c1 - c0) / (t1 - t0), "polls": polls,
            "cpu_per_poll": (c1 - c0) / polls if polls else None, "sockets": s1["sockets"],
            "resyncs": s1["resyncs"] - s0["resyncs"]}


# ---------------------------------------------------------------- helpers: farm, dumps, churn

class Farm:
    def __init__(self, args, work, connections, name):
        self.ready = os.path.join(work, f"farm-{name}.ready")
        workers = max(2, -(-connections // 5000))
        self.proc = subprocess.Popen([sys.executable, args.socket_farm, "--connections", str(connections),
                                      "--workers", str(workers), "--ready-file", self.ready, "--rst-on-exit"],
                                     stdout=subprocess.DEVNULL)
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None:
                raise RuntimeError("socket farm died")
            time.sleep(0.1)
        self.info = json.load(open(self.ready))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def raw_dump(args, times=7, listen_only=False):
    argv = [args.rawdump, "--times", str(times)] + (["--listen-only"] if listen_only else [])
    r = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
    cpu = sorted(r["cpu_us"][1:] or r["cpu_us"])  # the first one warms the allocator up
    return {"sockets": r["sockets"], "cpu_ms": statistics.median(cpu) / 1e3, "cpu_min_ms": cpu[0] / 1e3,
            "wall_ms": statistics.median(r["wall_us"]) / 1e3}


def command_cost(argv, times=5):
    """Median wall time and CPU (user+sys, from rusage of the child) of a command, output to /dev/null."""
    walls, cpus = [], []
    for _ in range(times):
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, ru = os.wait4(p.pid, 0)
        walls.append(time.perf_counter() - t0)
        cpus.append(ru.ru_utime + ru.ru_stime)
    return {"wall_ms": statistics.median(walls) * 1e3, "cpu_ms": statistics.median(cpus) * 1e3,
            "cpu_min_ms": min(cpus) * 1e3}


class Subscriber:
    """One control-socket client subscribed to `events`, counting the event notifications (no parsing)."""

    def __init__(self, sock_path, params=None):
        self.rpc = Rpc(sock_path)
        self.sub = self.rpc.call("events", params or {})["subscription"]
        self.rpc.sock.setblocking(False)
        self.count = self.rpc.buf.count(b'"method":"event"')
        self.rpc.buf = b""
        self.tail = b""
        self.dropped = False

    def drain(self, timeout=0.0):
        """Reads what is there (waiting up to `timeout` for the first bytes); returns bytes read."""
        got = 0
        if self.dropped:
            time.sleep(timeout)
            return 0
        r, _, _ = select.select([self.rpc.sock], [], [], timeout)
        while r:
            try:
                data = self.rpc.sock.recv(1 << 20)
            except BlockingIOError:
                break
            except ConnectionError:
                data = b""
            if not data:  # porteyed dropped us: a subscriber that fell 4 MiB behind
                self.dropped = True
                break
            got += len(data)
            # Count whole lines only: a notification may be split across reads.
            data = self.tail + data
            cut = data.rfind(b"\n") + 1
            self.count += data[:cut].count(b'"method":"event"')
            self.tail = data[cut:]
            r, _, _ = select.select([self.rpc.sock], [], [], 0)
        return got

    def drain_quiet(self, quiet=1.0, cap=30.0):
        """Reads until nothing arrived for `quiet` seconds."""
        end = time.monotonic() + cap
        while time.monotonic() < end:
            if self.drain(quiet) == 0:
                return

    def close(self):
        self.rpc.close()


def run_churn(args, rate, seconds, procs=1):
    """Runs `procs` churn generators at `rate` (0: flat out) each; returns their summed result."""
    ps = [subprocess.Popen([args.churn, str(rate), str(seconds)], stdout=subprocess.PIPE, text=True)
          for _ in range(procs)]
    return ps


def churn_result(ps):
    out = [json.loads(p.communicate()[0]) for p in ps]
    n = sum(o["connections"] for o in out)
    secs = max(o["seconds"] for o in out)
    return {"connections": n, "seconds": secs, "rate": n / secs, "cpu_s": sum(o["cpu_s"] for o in out)}


def churn_with_subscriber(args, daemon, rate, seconds, sub, side=None):
    """A churn while `sub` reads events; daemon CPU from the start to the end of the drain."""
    s0 = daemon.status()
    count0 = sub.count
    side_cpu0 = {name: stat_cpu(p.pid) for name, p in (side or {}).items()}
    c0, t0 = daemon.cpu(), time.monotonic()
    ps = run_churn(args, rate, seconds)
    while any(p.poll() is None for p in ps):
        sub.drain(0.2)
    gen = churn_result(ps)
    side_cpu = {name: stat_cpu(p.pid) - side_cpu0[name] for name, p in (side or {}).items()}
    sub.drain_quiet(1.0)
    c1, t1 = daemon.cpu(), time.monotonic()
    s1 = daemon.status()
    return {"rate": rate, "gen": gen, "daemon_cpu_s": c1 - c0, "window_s": t1 - t0,
            "events": sub.count - count0, "resyncs": s1["resyncs"] - s0["resyncs"],
            "short_lived": s1["short_lived"] - s0["short_lived"],
            "unattributed_short_lived": s1["unattributed_short_lived"] - s0["unattributed_short_lived"],
            "side_cpu_s": side_cpu, "dropped": sub.dropped}


# ---------------------------------------------------------------- latency (item 1)

class DbusWatch:
    """dbus-monitor on the benchmark's bus: PortAdded/PortRemoved with the bus time and local port."""

    def __init__(self, address):
        self.proc = subprocess.Popen(["stdbuf", "-oL", "dbus-monitor", "--address", address,
                                      "type='signal',interface='org.porteye.PortEye1'"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""
        self.current = None  # [member, time]
        self.seen = []  # (member, port, realtime)

    def fileno(self):
        return self.proc.stdout.fileno()

    def read(self):
        try:
            data = os.read(self.fileno(), 1 << 16)
        except BlockingIOError:
            return
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            text = line.decode(errors="replace")
            if text.startswith("signal "):
                m = re.search(r"time=([\d.]+).*member=(\w+)", text)
                self.current = [m.group(2), float(m.group(1))] if m else None
            elif self.current and text.strip().startswith("uint16 "):
                self.seen.append((self.current[0], int(text.split()[1]), self.current[1]))
                self.current = None

    def take(self, member, port):
        for i, (m, p, t) in enumerate(self.seen):
            if m == member and p == port:
                del self.seen[i]
                return t
        return None

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def latency_run(daemon, samples, gap, port, dbus):
    """listen() -> `added` at a subscriber, close() -> `removed`; also the D-Bus signals' bus times."""
    sub = Rpc(daemon.sock_path)
    sub.call("events", {"port": port})
    sub.sock.setblocking(False)
    out = {"add": [], "remove": [], "dbus_add": [], "dbus_remove": [], "timeouts": 0}

    def wait_for(action, t0_mono, t0_real, member):
        got_sock, got_bus = None, None
        deadline = t0_mono + 5
        while (got_sock is None or (dbus and got_bus is None)) and time.monotonic() < deadline:
            fds = [sub.sock] + ([dbus] if dbus else [])
            r, _, _ = select.select(fds, [], [], 0.05)
            now = time.monotonic()
            if sub.sock in r:
                sub.buf += sub.sock.recv(1 << 16)
                while b"\n" in sub.buf:
                    line, sub.buf = sub.buf.split(b"\n", 1)
                    msg = json.loads(line)
                    p = msg.get("params", {})
                    if msg.get("method") == "event" and p.get("action") == action and \
                            p["record"]["local_port"] == port and got_sock is None:
                        got_sock = now - t0_mono
            if dbus:
                if dbus in r:
                    dbus.read()
                if got_bus is None:
                    t = dbus.take(member, port)
                    if t is not None:
                        got_bus = t - t0_real
        if got_sock is None or (dbus and got_bus is None):
            out["timeouts"] += 1
        return got_sock, got_bus

    for i in range(samples):
        time.sleep(random.uniform(0, gap))  # any phase against the poll timer
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        t0r, t0 = time.time(), time.monotonic()
        s.listen(8)
        a, ab = wait_for("added", t0, t0r, "PortAdded")
        t1r, t1 = time.time(), time.monotonic()
        s.close()
        rm, rb = wait_for("removed", t1, t1r, "PortRemoved")
        for key, v in (("add", a), ("remove", rm), ("dbus_add", ab), ("dbus_remove", rb)):
            if v is not None:
                out[key].append(v * 1e3)
    sub.close()
    return out


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# ---------------------------------------------------------------- per-namespace cost (item 8), in a pid namespace

# Stand-ins for bcc's tcpstates and tcplife where bcc cannot compile (no kernel headers): the same
# tracepoint, one line per state change / per closed connection with its lifetime, via BTF.
BPFTRACE = {
    "bpftrace tcpstates-like": 'tracepoint:sock:inet_sock_set_state { printf("%d %s %d %d %d %d\\n", '
                               'pid, comm, args->sport, args->dport, args->oldstate, args->newstate); }',
    "bpftrace tcplife-like": 'tracepoint:sock:inet_sock_set_state { if (args->newstate == 2 || args->newstate == 3) '
                             '{ @b[args->skaddr] = nsecs; } if (args->newstate == 7 && @b[args->skaddr]) { '
                             'printf("%d %s %d %d %d\\n", pid, comm, args->sport, args->dport, '
                             '(nsecs - @b[args->skaddr]) / 1000); delete(@b[args->skaddr]); } }',
}

LISTENER = "import socket,signal; s=socket.socket(); s.bind(('0.0.0.0',8080)); s.listen(); signal.pause()"


def nscost(args):
    """Run as pid 1 of a new pid namespace: porteyed follows only what this benchmark starts."""
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=False)  # a private /run/netns
    results = []
    holders = []
    for extra in args.namespaces:
        while len(holders) < extra:
            holders.append(subprocess.Popen(["unshare", "-n", sys.executable, "-c", LISTENER]))
        time.sleep(1.0)
        d = Daemon(args, args.work, f"ns{extra}", ["--network-namespaces", "all", "--netns-helper", args.helper,
                                                   "--event-source", "off", "--interval", "1"], bus=False)
        deadline = time.monotonic() + 60
        while True:
            st = d.status()
            m = re.search(r"(\d+) others? followed", st["network_namespaces"])
            followed = int(m.group(1)) if m else 0
            if followed >= extra or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        d.wait_polls(3)
        idle = measure_idle(d, args.ns_seconds)
        listeners = len(d.rpc.call("list", {"listening": True, "port": 8080}))
        rss = status_kb(d.pid, "VmRSS")
        idle.update({"extra": extra, "followed": followed, "listeners_8080": listeners, "rss_kb": rss,
                     "network_namespaces": st["network_namespaces"]})
        results.append(idle)
        d.stop()
        log(f"  {extra} extra namespaces: {idle['cpu_per_poll'] * 1e3:.2f} ms CPU per poll, "
            f"{followed} followed, {listeners} listeners on 8080")
    for h in holders:
        h.terminate()
    for h in holders:
        h.wait()
    dumps = {"full": raw_dump(args, times=7), "listen": raw_dump(args, times=7, listen_only=True)}
    print(json.dumps({"runs": results, "dumps": dumps}))


# ---------------------------------------------------------------- the whole run

def fmt_ms(v):
    return "—" if v is None or v != v else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def main_run(args):
    work = args.work
    raw = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "uptime_start": open("/proc/loadavg").read().split()[:3]}
    on = ["--event-source", "auto", "--network-namespaces", "host"]
    off = ["--event-source", "off", "--interval", "1", "--network-namespaces", "host"]

    # ---- the 20k-socket table: items 1, 2, 5, 6, 7
    log(f"farm: {args.connections} connections")
    farm = Farm(args, work, args.connections, "20k")
    raw["farm20k"] = farm.info

    dump20 = raw_dump(args)
    dump20_listen = raw_dump(args, listen_only=True)
    ss_tan = command_cost(["ss", "-tan"])
    ss_tanp = command_cost(["ss", "-tanp"], times=3)
    raw.update({"dump20k": dump20, "dump20k_listen": dump20_listen, "ss_tan_20k": ss_tan, "ss_tanp_20k": ss_tanp})
    log(f"raw dump at {dump20['sockets']} sockets: {dump20['cpu_ms']:.1f} ms CPU; LISTEN-only "
        f"{dump20_listen['cpu_ms']:.3f} ms; ss -tan {ss_tan['cpu_ms']:.1f} ms; ss -tanp {ss_tanp['wall_ms']:.0f} ms")

    configs = {"events": on, "polling": off}
    results = {}
    for name in ("events", "polling"):
        log(f"porteyed, {name}: starting at {dump20['sockets']} sockets")
        d = Daemon(args, work, f"{name}-20k", configs[name])
        st = d.status()
        d.wait_polls(3)
        r = {"event_source": st["event_source"], "argv": d.argv}
        # item 2: idle
        log(f"  idle {args.idle_seconds[name]} s")
        r["idle"] = measure_idle(d, args.idle_seconds[name])
        log(f"  idle: {r['idle']['cpu_per_s'] * 1e3:.1f} ms CPU/s")
        # item 1: latency at a subscriber and on D-Bus
        dbus = DbusWatch(args.bus_address) if args.bus_address else None
        time.sleep(0.5)
        samples = args.samples if name == "events" else args.samples_polling
        gap = args.gap if name == "events" else 1.0
        log(f"  latency: {samples} listen/close samples")
        r["latency"] = latency_run(d, samples, gap, args.port, dbus)
        if dbus:
            dbus.stop()
        # item 5: CPU per delivered event, one socket subscriber
        sub = Subscriber(d.sock_path)
        r["churn"] = []
        for rate in args.rates:
            log(f"  churn at {rate}/s for {args.churn_seconds} s")
            c = churn_with_subscriber(args, d, rate, args.churn_seconds, sub)
            c["idle_cpu_s"] = r["idle"]["cpu_per_s"] * c["window_s"]
            r["churn"].append(c)
            log(f"    {c['gen']['rate']:.0f}/s, {c['events']} events, daemon {c['daemon_cpu_s'] * 1e3:.0f} ms CPU")
        if name == "events":
            # item 7: ss -E, tcplife, tcpstates beside the daemon during the same kind of churn
            side, errs = {}, {}
            dn = open(os.devnull, "w")
            tools = [("ss -E", ["ss", "-tnE"]), ("tcplife-bpfcc", [args.tcplife]),
                     ("tcpstates-bpfcc", [args.tcpstates])]
            if shutil.which("bpftrace"):
                # bpftrace finds tracepoints in tracefs: mount it in a mount namespace of its own
                tools += [(label, ["unshare", "-m", "sh", "-c",
                                   "mount -t tracefs nodev /sys/kernel/tracing && exec bpftrace -e \"$0\"", prog])
                          for label, prog in BPFTRACE.items()]
            for label, argv in tools:
                if argv[0] and shutil.which(argv[0]):
                    errs[label] = open(os.path.join(work, f"side-{len(side)}.err"), "w+")
                    side[label] = subprocess.Popen(argv, stdout=dn, stderr=errs[label])
            # bcc compiles its programs at start: wait until their CPU stops growing
            last, quiet, deadline = None, 0, time.monotonic() + 90
            while quiet < 3 and time.monotonic() < deadline:
                time.sleep(0.5)
                now = {k: stat_cpu(p.pid) for k, p in side.items()}
                quiet = quiet + 1 if last and all(now[k] - last[k] < 0.02 for k in now) else 0
                last = now
            alive = {k: p.poll() is None for k, p in side.items()}
            why = {}
            for k, f in errs.items():
                f.seek(0)
                lines = [l.strip() for l in f.read().splitlines() if l.strip() and "RLIMIT_MEMLOCK" not in l]
                why[k] = lines[-1] if lines else ""
                if "Failed to compile BPF module" in why[k]:
                    why[k] = (f"bcc cannot compile its program: no kernel headers for {os.uname().release} "
                              "(no /lib/modules/*/build, no /sys/kernel/kheaders.tar.xz)")
            log(f"  side by side at {args.side_rate}/s: {', '.join(k for k in side if alive[k])}")
            c = churn_with_subscriber(args, d, args.side_rate, args.churn_seconds, sub, side)
            c["alive"], c["why"] = alive, why
            c["idle_cpu_s"] = r["idle"]["cpu_per_s"] * c["window_s"]
            r["side"] = c
            for p in side.values():
                p.terminate()
            for p in side.values():
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            # item 6: flat-out churn, no daemon vs daemon (events on, one subscriber)
            r["max"] = []
            for rnd in range(args.max_rounds):
                log(f"  flat-out churn round {rnd + 1}/{args.max_rounds} (daemon running)")
                msub = Subscriber(d.sock_path)
                c = churn_with_subscriber_max(args, d, msub)
                msub.close()
                r["max"].append(c)
                log(f"    {c['gen']['rate']:.0f}/s, {c['events']} events, resyncs {c['resyncs']}")
        sub.close()
        r["rss_kb"], r["hwm_kb"] = status_kb(d.pid, "VmRSS"), status_kb(d.pid, "VmHWM")
        r["final_status"] = d.status()
        d.stop()
        results[name] = r
    raw["runs20k"] = results
    # item 6 baseline: no daemon at all (the dbus-daemon stays: it costs nothing idle)
    raw["max_nodaemon"] = []
    for rnd in range(args.max_rounds):
        log(f"flat-out churn round {rnd + 1}/{args.max_rounds} (no daemon)")
        ps = run_churn(args, 0, args.max_seconds, args.max_procs)
        raw["max_nodaemon"].append(churn_result(ps))
        log(f"  {raw['max_nodaemon'][-1]['rate']:.0f}/s")
    farm.stop()

    # ---- items 4 and 3: 100k then 200k sockets
    log(f"farm: {args.connections_rss} connections (RSS)")
    farm = Farm(args, work, args.connections_rss, "100k")
    dump100 = raw_dump(args, times=5)
    raw["dump100k"] = dump100
    raw["rss100k"] = {}
    for name in ("events", "polling"):
        d = Daemon(args, work, f"{name}-100k", configs[name])
        d.wait_polls(args.rss_polls)
        idle = measure_idle(d, 10)
        raw["rss100k"][name] = {"rss_kb": status_kb(d.pid, "VmRSS"), "hwm_kb": status_kb(d.pid, "VmHWM"),
                                "sockets": d.status()["sockets"], "idle": idle}
        log(f"  {name}: RSS {raw['rss100k'][name]['rss_kb'] / 1024:.1f} MiB, "
            f"peak {raw['rss100k'][name]['hwm_kb'] / 1024:.1f} MiB, {raw['rss100k'][name]['sockets']} sockets")
        d.stop()
    if not args.skip_200k:
        log(f"farm: +{args.connections_rss} connections (200k sockets, polling mode)")
        farm2 = Farm(args, work, args.connections_200k - args.connections_rss, "200k")
        dump200 = raw_dump(args, times=5)
        d = Daemon(args, work, "polling-200k", off)
        d.wait_polls(3)
        idle = measure_idle(d, args.poll200k_seconds)
        raw["poll200k"] = {"dump": dump200, "idle": idle, "rss_kb": status_kb(d.pid, "VmRSS"),
                           "hwm_kb": status_kb(d.pid, "VmHWM")}
        log(f"  polling at {idle['sockets']} sockets: {idle['cpu_per_poll'] * 1e3:.0f} ms CPU per poll "
            f"({idle['polls']} polls); raw dump {dump200['cpu_ms']:.0f} ms")
        d.stop()
        farm2.stop()
    farm.stop()

    # ---- item 8: per-namespace cost, in a pid namespace of its own
    log("per-namespace cost (pid namespace)")
    out = subprocess.run(["unshare", "-n", "-p", "-f", "--mount-proc", sys.executable, __file__, "nscost",
                          "--work", work, "--porteyed", args.porteyed, "--helper", args.helper,
                          "--rawdump", args.rawdump,
                          "--empty-conf", args.empty_conf, "--ns-seconds", str(args.ns_seconds),
                          "--namespaces", *map(str, args.namespaces)],
                         check=True, capture_output=True, text=True)
    sys.stderr.write(out.stderr)
    ns = json.loads(out.stdout.strip().splitlines()[-1])
    raw["nscost"] = ns["runs"]
    raw["ns_listen_dump"], raw["ns_full_dump"] = ns["dumps"]["listen"], ns["dumps"]["full"]
    raw["uptime_end"] = open("/proc/loadavg").read().split()[:3]
    raw["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)
    report(raw, args)


def churn_with_subscriber_max(args, daemon, sub):
    s0 = daemon.status()
    count0 = sub.count
    c0, t0 = daemon.cpu(), time.monotonic()
    ps = run_churn(args, 0, args.max_seconds, args.max_procs)
    while any(p.poll() is None for p in ps):
        sub.drain(0.2)
    gen = churn_result(ps)
    sub.drain_quiet(1.0)
    c1, t1 = daemon.cpu(), time.monotonic()
    s1 = daemon.status()
    return {"gen": gen, "daemon_cpu_s": c1 - c0, "window_s": t1 - t0, "events": sub.count - count0,
            "resyncs": s1["resyncs"] - s0["resyncs"], "short_lived": s1["short_lived"] - s0["short_lived"],
            "dropped": sub.dropped}


# ---------------------------------------------------------------- report

def report(raw, args):
    ev, po = raw["runs20k"]["events"], raw["runs20k"]["polling"]
    d20 = raw["dump20k"]
    socks20 = d20["sockets"]
    p = print
    p(f"### events.sh, {raw['started']} UTC\n")
    p(f"Kernel {os.uname().release}, {os.cpu_count()} CPUs; load average (1/5/15 min) at start "
      f"{' / '.join(raw['uptime_start'])}, at end {' / '.join(raw['uptime_end'])}. Everything in a private "
      f"network namespace (`unshare -n`); porteyed with `--network-namespaces host` (its own namespace only: the "
      f"shared host's stays out) except in (8). Event source reached: `{ev['event_source'].split(' (')[0]}`. "
      f"Daemon CPU = utime+stime of porteyed and its children (threads' `se.sum_exec_runtime`).\n")
    p(f"Configurations: **events** = `{' '.join(ev['argv'][1:])}` (default interval 1 s, reconcile 30 s); "
      f"**polling** = the same with `--event-source off --interval 1`. Both with a persistent history "
      f"(SQLite), D-Bus on a private bus and the control socket.\n")

    # 1
    p(f"**(1) Latency at a subscribed client**, {socks20} sockets in the table "
      f"({len(ev['latency']['add'])} samples with events, {len(po['latency']['add'])} polling; ms)\n")
    p("| what | events p50 | events p99 | polling p50 | polling p99 | polling/events p50 | target (p99) |")
    p("|---|---|---|---|---|---|---|")
    rows = (("listen() → `added` (control socket `events`)", "add", "≤ 10 ms"),
            ("close() → `removed` (control socket)", "remove", "≤ 10 ms"),
            ("listen() → `PortAdded` (D-Bus, bus time)", "dbus_add", "≤ 10 ms"),
            ("close() → `PortRemoved` (D-Bus, bus time)", "dbus_remove", "≤ 10 ms"))
    for label, key, target in rows:
        e, o = ev["latency"][key], po["latency"][key]
        if not e and not o:
            continue
        ratio = pct(o, .5) / pct(e, .5) if e and pct(e, .5) > 0 else float("nan")
        p(f"| {label} | {fmt_ms(pct(e, .5))} | {fmt_ms(pct(e, .99))} | {fmt_ms(pct(o, .5))} | {fmt_ms(pct(o, .99))} "
          f"| {ratio:.0f}x | {target} |")
    p(f"\nTimeouts (no event within 5 s): events {ev['latency']['timeouts']}, polling {po['latency']['timeouts']}.\n")

    # 2
    ie, io = ev["idle"], po["idle"]
    p(f"**(2) Idle daemon at {socks20} sockets** ({raw['farm20k']['connections']} loopback connections), "
      f"against one raw dump of the same table\n")
    p("| what | CPU | per | vs one raw dump |")
    p("|---|---|---|---|")
    p(f"| raw sock_diag dump, all states (`rawdump.c`: TCPDIAG_GETSOCK, read, not parsed), median of 6 | "
      f"{d20['cpu_ms']:.2f} ms | dump | 1x |")
    p(f"| raw dump, LISTEN only | {raw['dump20k_listen']['cpu_ms'] * 1e3:.0f} µs | dump | "
      f"{raw['dump20k_listen']['cpu_ms'] / d20['cpu_ms']:.3f}x |")
    p(f"| `ss -tan` (proxy: dump + parse + print; child rusage) | {raw['ss_tan_20k']['cpu_ms']:.1f} ms | run | "
      f"{raw['ss_tan_20k']['cpu_ms'] / d20['cpu_ms']:.1f}x |")
    p(f"| porteyed **events** (default), idle {ie['seconds']:.0f} s | {ie['cpu_per_s'] * 1e3:.2f} ms | second | "
      f"**{ie['cpu_per_s'] * 1e3 / d20['cpu_ms']:.2f}x** (target ≤ 0.25x) |")
    p(f"| porteyed **polling** (`--event-source off`), idle {io['seconds']:.0f} s | {io['cpu_per_s'] * 1e3:.2f} ms | "
      f"second | {io['cpu_per_s'] * 1e3 / d20['cpu_ms']:.2f}x |")
    p(f"| `ss -tanp` one-shot (wall {raw['ss_tanp_20k']['wall_ms']:.0f} ms) | {raw['ss_tanp_20k']['cpu_ms']:.0f} ms | "
      f"run | {raw['ss_tanp_20k']['cpu_ms'] / d20['cpu_ms']:.0f}x |")
    p(f"\nEvents idle vs polling idle: {io['cpu_per_s'] / ie['cpu_per_s']:.1f}x less CPU. "
      f"Polling: {io['cpu_per_poll'] * 1e3:.1f} ms per poll ({io['polls']} polls).\n")

    # 3
    if "poll200k" in raw:
        q = raw["poll200k"]
        r = q["idle"]["cpu_per_poll"] * 1e3 / q["dump"]["cpu_ms"]
        p(f"**(3) Polling mode at {q['idle']['sockets']} sockets**: porteyed `--event-source off --interval 1` "
          f"spends {q['idle']['cpu_per_poll'] * 1e3:.0f} ms CPU per poll ({q['idle']['polls']} polls in "
          f"{q['idle']['seconds']:.0f} s; a poll takes longer than the interval, so it polls back to back), one raw "
          f"dump {q['dump']['cpu_ms']:.0f} ms: **{r:.2f}x** (target ≤ 1.2x). RSS {q['rss_kb'] / 1024:.0f} MiB "
          f"(peak {q['hwm_kb'] / 1024:.0f} MiB).\n")

    # 4
    rs = raw["rss100k"]
    p(f"**(4) Memory at {rs['events']['sockets']} sockets** (target ≤ 40 MiB)\n")
    p("| configuration | VmRSS | VmHWM (peak) |")
    p("|---|---|---|")
    for name in ("events", "polling"):
        p(f"| {name} | {rs[name]['rss_kb'] / 1024:.1f} MiB | {rs[name]['hwm_kb'] / 1024:.1f} MiB |")
    p(f"\n(At {socks20} sockets after the runs above: events {ev['rss_kb'] / 1024:.1f} MiB, peak "
      f"{ev['hwm_kb'] / 1024:.1f}; polling {po['rss_kb'] / 1024:.1f}, peak {po['hwm_kb'] / 1024:.1f}.)\n")

    # 5
    p(f"**(5) Daemon CPU per delivered event** (loopback churn: connect, accept, close with RST; "
      f"{args.churn_seconds} s; {socks20} sockets in the table; one socket subscriber counting `event` "
      f"notifications; history in SQLite; D-Bus signals)\n")
    p("| rate asked | configuration | rate reached | events delivered | per connection | daemon CPU | "
      f"CPU per event | same, idle CPU subtracted | CPU per connection | resyncs |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for i, rate in enumerate(args.rates):
        for name, r in (("events", ev), ("polling", po)):
            c = r["churn"][i]
            meaningful = c["events"] >= c["gen"]["connections"] // 100 + 1
            per = c["daemon_cpu_s"] / c["events"] * 1e6 if meaningful else None
            marg = (c["daemon_cpu_s"] - c["idle_cpu_s"]) / c["events"] * 1e6 if meaningful else None
            conn = c["daemon_cpu_s"] / max(1, c["gen"]["connections"]) * 1e6
            p(f"| {rate}/s | {name} | {c['gen']['rate']:.0f}/s | {c['events']} | "
              f"{c['events'] / max(1, c['gen']['connections']):.2f} | {c['daemon_cpu_s'] * 1e3:.0f} ms "
              f"({c['daemon_cpu_s'] / c['window_s'] * 1e3:.0f} ms/s) | "
              f"{'—' if per is None else f'{per:.1f} µs'} | {'—' if marg is None else f'{marg:.1f} µs'} | "
              f"{conn:.1f} µs | {c['resyncs']}{' (subscriber dropped)' if c.get('dropped') else ''} |")
    p(f"\nPolling mode delivers no event for these connections (each lives microseconds, between two polls); "
      f"its destroy notifications count them as unattributed short-lived sockets: "
      + ", ".join(f"{c['unattributed_short_lived']} at {c['rate']}/s" for c in po["churn"]) + ".\n")

    # 6
    nd = raw["max_nodaemon"]
    mx = ev["max"]
    nd_rate = statistics.median([c["rate"] for c in nd])
    mx_rate = statistics.median([c["gen"]["rate"] for c in mx])
    per_conn = statistics.median([c["events"] / max(1, c["gen"]["connections"]) for c in mx])
    p(f"**(6) Flat-out churn**: {args.max_procs} generator processes for {args.max_seconds} s per round, "
      f"{args.max_rounds} rounds each\n")
    p("| configuration | generator rate (median) | rounds | daemon CPU | events delivered per connection | "
      "resyncs (lost events) | subscriber dropped |")
    p("|---|---|---|---|---|---|---|")
    nd_rounds = ", ".join(f"{c['rate']:.0f}" for c in nd)
    mx_rounds = ", ".join(f"{c['gen']['rate']:.0f}" for c in mx)
    p(f"| no porteyed | {nd_rate:.0f}/s | {nd_rounds} | — | — | — | — |")
    p(f"| porteyed, events on, one subscriber | {mx_rate:.0f}/s | {mx_rounds} | "
      f"{statistics.median([c['daemon_cpu_s'] / c['window_s'] for c in mx]) * 1e3:.0f} ms/s | {per_conn:.2f} | "
      f"{sum(c['resyncs'] for c in mx)} | {sum(1 for c in mx if c.get('dropped'))} of {len(mx)} rounds |")
    slow = (1 - mx_rate / nd_rate) * 100
    p(f"\nSlowdown of the generator: **{slow:.1f} %** (target ≤ 15 %, no lost events). "
      f"At the paced rates each connection gave {statistics.median([c['events'] / max(1, c['gen']['connections']) for c in ev['churn']]):.2f} "
      f"events; here {per_conn:.2f}.\n")

    # 7
    sd = ev["side"]
    p(f"**(7) Side by side during a {args.churn_seconds} s churn at {sd['gen']['rate']:.0f}/s** "
      f"(all running at once, output to /dev/null; bcc tools measured after their start-up compile; they trace "
      f"the whole host, not only this namespace)\n")
    p("| tool | CPU over the churn | per second | per connection |")
    p("|---|---|---|---|")
    n = sd["gen"]["connections"]
    p(f"| porteyed (events, history, D-Bus, one subscriber: {sd['events']} events) | {sd['daemon_cpu_s'] * 1e3:.0f} ms | "
      f"{sd['daemon_cpu_s'] / sd['window_s'] * 1e3:.1f} ms/s | {sd['daemon_cpu_s'] / n * 1e6:.1f} µs |")
    for k, v in sd["side_cpu_s"].items():
        if not sd["alive"][k]:
            p(f"| `{k}`: does not run here ({sd['why'].get(k, '')[:200]}) | — | — | — |")
            continue
        p(f"| `{k}` | {v * 1e3:.0f} ms | {v / sd['gen']['seconds'] * 1e3:.1f} ms/s | {v / n * 1e6:.1f} µs |")
    p(f"| `ss -tanp` one-shot at {socks20} sockets (no churn) | {raw['ss_tanp_20k']['cpu_ms']:.0f} ms "
      f"(wall {raw['ss_tanp_20k']['wall_ms']:.0f} ms) | — | — |")
    p("")

    # 8
    ns = raw["nscost"]
    base = ns[0]["cpu_per_poll"]
    p("**(8) Per-namespace cost** (porteyed `--network-namespaces all --event-source off --interval 1`, in a pid "
      "namespace of its own so it follows only this benchmark's namespaces; each extra namespace made with "
      "`unshare -n` holds one listener; namespace sockets come through porteye-netns-helper)\n")
    p("| extra namespaces | followed | listeners seen on :8080 | CPU per poll | added per namespace | RSS |")
    p("|---|---|---|---|---|---|")
    for r in ns:
        add = (r["cpu_per_poll"] - base) / r["extra"] * 1e6 if r["extra"] else None
        p(f"| {r['extra']} | {r['followed']} | {r['listeners_8080']} | {r['cpu_per_poll'] * 1e3:.2f} ms | "
          f"{'—' if add is None else f'{add:.0f} µs'} | {r['rss_kb'] / 1024:.1f} MiB |")
    p(f"\nFor scale, in an empty namespace one raw dump costs {raw['ns_full_dump']['cpu_ms'] * 1e3:.0f} µs with every "
      f"state (the kernel walks the whole connection hash, shared by all namespaces) and "
      f"{raw['ns_listen_dump']['cpu_ms'] * 1e3:.0f} µs LISTEN-only.\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["run", "nscost"])
    ap.add_argument("--work", required=True)
    ap.add_argument("--porteyed", required=True)
    ap.add_argument("--helper", default="")
    ap.add_argument("--empty-conf", required=True)
    ap.add_argument("--bus-address", default="")
    ap.add_argument("--socket-farm", default="")
    ap.add_argument("--churn", default="")
    ap.add_argument("--rawdump", default="")
    ap.add_argument("--tcplife", default="/usr/sbin/tcplife-bpfcc")
    ap.add_argument("--tcpstates", default="/usr/sbin/tcpstates-bpfcc")
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--connections-rss", type=int, default=50000)
    ap.add_argument("--connections-200k", type=int, default=100000)
    ap.add_argument("--skip-200k", action="store_true")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--samples-polling", type=int, default=100)
    ap.add_argument("--gap", type=float, default=0.15)
    ap.add_argument("--port", type=int, default=47001)
    ap.add_argument("--idle-events", type=float, default=60)
    ap.add_argument("--idle-polling", type=float, default=30)
    ap.add_argument("--rates", type=int, nargs="+", default=[300, 3000])
    ap.add_argument("--side-rate", type=int, default=3000)
    ap.add_argument("--churn-seconds", type=float, default=20)
    ap.add_argument("--max-seconds", type=float, default=10)
    ap.add_argument("--max-rounds", type=int, default=3)
    ap.add_argument("--max-procs", type=int, default=2)
    ap.add_argument("--rss-polls", type=int, default=5)
    ap.add_argument("--poll200k-seconds", type=float, default=15)
    ap.add_argument("--namespaces", type=int, nargs="+", default=[0, 10, 50])
    ap.add_argument("--ns-seconds", type=float, default=20)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    args.idle_seconds = {"events": args.idle_events, "polling": args.idle_polling}
    if args.mode == "nscost":
        nscost(args)
    else:
        main_run(args)


if __name__ == "__main__":
    main()
