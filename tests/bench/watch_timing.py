#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Does `watch` answer another user's PID and a free PID after the same work? (issue 19, finding 10)

Run as root: starts porteyed (--no-bus, its own socket), a process of a second user (the victim),
and asks, as a third unprivileged user, `watch` of the victim's PID and of a free PID, interleaved,
N times each over one connection. Prints the median and quartiles of each, in microseconds.
Both must be refused the same way; the medians should not differ by more than the noise.

  nice -n 10 python3 tests/bench/watch_timing.py build-test/daemon/porteyed [N]
"""
import json, os, pwd, socket, statistics, subprocess, sys, tempfile, time

porteyed = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
tmp = tempfile.mkdtemp()
os.chmod(tmp, 0o755)
path = os.path.join(tmp, "s.sock")


def user(name):
    subprocess.run(["useradd", "--system", "--no-create-home", name], stderr=subprocess.DEVNULL)
    return pwd.getpwnam(name)


victim, prober = user("pewtvict"), user("pewtprob")
daemon = subprocess.Popen([porteyed, "--no-bus", "--socket", path, "--config", "/dev/null", "--state-dir", "",
                           "--network-namespaces", "host", "--event-source", "off", "--log-level", "error"])
deadline = time.monotonic() + 20
while not os.path.exists(path):
    if time.monotonic() > deadline:
        sys.exit("porteyed did not start")
    time.sleep(0.05)
os.chmod(path, 0o666)
held = subprocess.Popen(["setpriv", f"--reuid={victim.pw_uid}", f"--regid={victim.pw_gid}", "--clear-groups",
                         "sleep", "600"])
free = 4_000_000  # above pid_max's default: never a process
while os.path.exists(f"/proc/{free}"):
    free -= 1

pid = os.fork()
if pid == 0:
    os.setgroups([])
    os.setgid(prober.pw_gid)
    os.setuid(prober.pw_uid)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    f = s.makefile("rwb")
    times = {"existing": [], "free": []}
    errors = {"existing": set(), "free": set()}
    for i in range(2 * n):
        which = "existing" if i % 2 == 0 else "free"
        target = held.pid if which == "existing" else free
        req = json.dumps({"jsonrpc": "2.0", "id": i, "method": "watch", "params": {"pid": target}}) + "\n"
        t0 = time.perf_counter_ns()
        f.write(req.encode())
        f.flush()
        reply = json.loads(f.readline())
        times[which].append((time.perf_counter_ns() - t0) / 1000)
        errors[which].add(json.dumps(reply.get("error", {}).get("message", "no error!")))
    for which in ("existing", "free"):
        q = statistics.quantiles(times[which], n=4)
        print(f"{which:8s} pid: median {statistics.median(times[which]):7.1f} us  "
              f"(q1 {q[0]:.1f}, q3 {q[2]:.1f}, n={len(times[which])})  errors: {' | '.join(errors[which])}")
    os._exit(0)
os.waitpid(pid, 0)
held.kill()
daemon.terminate()
daemon.wait()
for name in ("pewtvict", "pewtprob"):
    subprocess.run(["userdel", name], stderr=subprocess.DEVNULL)
