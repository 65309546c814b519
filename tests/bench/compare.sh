#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Side-by-side cost of PortEye against ss, lsof and psutil, in ONE run, in a private
# network namespace holding N established loopback connections (see BENCHMARKS.md).
#
#   sudo tests/bench/compare.sh [--sockets N] [--runs K] [--workers W]
#                               [--build-dir DIR] [--budget SECONDS] [--json FILE]
#
#   --sockets N   established loopback connections to create (2 sockets each; default 10000)
#   --runs K      repetitions of each measurement (default 7); median and min are reported
#   --workers W   processes holding the connections (default 4)
#   --budget S    wall-clock cap per slow tool (lsof, psutil, ss): stop repeating after S seconds (default 90)
#   --build-dir   where porteye-polltimer is built (default: <repo>/build-bench, Release)
#   --json FILE   also write every raw number there
#
# Needs root (unshare -n, raising RLIMIT_NOFILE), ss (iproute2), lsof, python3 and a
# python3 with psutil (python3-psutil). Prints a markdown report on stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

sockets=10000
runs=7
workers=4
budget=90
build_dir="$repo/build-bench"
json_out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sockets) sockets=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --build-dir) build_dir=$2; shift 2 ;;
        --json) json_out=$2; shift 2 ;;
        -h|--help) sed -n '3,18p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

# Re-exec in a fresh network namespace: the host's socket table stays out of the numbers.
if [[ "${PORTEYE_BENCH_IN_NETNS:-}" != 1 ]]; then
    if [[ $(id -u) -ne 0 ]]; then echo "compare.sh: needs root (unshare -n)" >&2; exit 1; fi
    for tool in ss lsof python3 ip unshare cmake; do
        command -v "$tool" >/dev/null || { echo "compare.sh: missing $tool" >&2; exit 1; }
    done
    # Build before entering the namespace (nothing here needs the network, but keep it simple).
    if [[ ! -x "$build_dir/tests/bench/porteye-polltimer" ]] || [[ "$here/PollTimer.cpp" -nt "$build_dir/tests/bench/porteye-polltimer" ]]; then
        echo "compare.sh: building porteye-polltimer in $build_dir" >&2
        [[ -f "$build_dir/CMakeCache.txt" ]] || cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >&2
        cmake --build "$build_dir" -j"$(nproc)" --target porteye-polltimer >&2
    fi
    export PORTEYE_BENCH_IN_NETNS=1
    exec unshare -n bash "$0" --sockets "$sockets" --runs "$runs" --workers "$workers" --budget "$budget" \
        --build-dir "$build_dir" ${json_out:+--json "$json_out"}
fi

started=$(date +%s.%N)
ip link set lo up
ulimit -n "$(cat /proc/sys/fs/nr_open)" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true

polltimer="$build_dir/tests/bench/porteye-polltimer"
# psutil may live only in the distribution's python (python3-psutil).
psutil_py=""
for py in python3 /usr/bin/python3; do
    if "$py" -c 'import psutil' 2>/dev/null; then psutil_py=$(command -v "$py"); break; fi
done

work=$(mktemp -d /tmp/porteye-bench.XXXXXX)
farm_pid=""
cleanup() {
    if [[ -n "$farm_pid" ]]; then kill -TERM "$farm_pid" 2>/dev/null || true; wait "$farm_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "compare.sh: creating $sockets connections with $workers workers..." >&2
farm_started=$(date +%s.%N)
python3 "$here/socket_farm.py" --connections "$sockets" --workers "$workers" --ready-file "$work/ready" &
farm_pid=$!
while [[ ! -f "$work/ready" ]]; do
    if ! kill -0 "$farm_pid" 2>/dev/null; then echo "compare.sh: socket farm died" >&2; exit 1; fi
    sleep 0.2
done
farm_secs=$(echo "$(date +%s.%N) - $farm_started" | bc)
echo "compare.sh: farm ready in ${farm_secs}s: $(cat "$work/ready")" >&2

PORTEYE_POLLTIMER="$polltimer" PSUTIL_PY="$psutil_py" RUNS="$runs" BUDGET="$budget" WORK="$work" \
FARM_SECS="$farm_secs" JSON_OUT="$json_out" STARTED="$started" python3 - <<'PY'
import json, os, statistics, subprocess, sys, time
from collections import Counter

polltimer = os.environ["PORTEYE_POLLTIMER"]
psutil_py = os.environ["PSUTIL_PY"]
runs = int(os.environ["RUNS"])
budget = float(os.environ["BUDGET"])
work = os.environ["WORK"]
farm = json.load(open(os.path.join(work, "ready")))
target = farm["target"]
raw = {"farm": farm, "farm_seconds": float(os.environ["FARM_SECS"])}

def log(msg):
    print(f"compare.sh: {msg}", file=sys.stderr, flush=True)

def polltimer_run(*args):
    out = subprocess.run([polltimer, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out)

def timed_command(argv, cap=budget):
    """Wall time (ms) of `argv` up to `runs` times, stopping once `cap` seconds are spent."""
    times, spent = [], 0.0
    while len(times) < runs and (not times or spent < cap):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        dt = time.perf_counter() - t0
        times.append(dt * 1e3)
        spent += dt
    return times

PSUTIL_SNIPPET = r"""
import json, sys, time, psutil
mode, runs, cap, pid = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
times, spent, count = [], 0.0, 0
proc = psutil.Process(pid) if mode == "pid" else None
fn = (lambda: psutil.net_connections(kind="tcp")) if mode == "host" else \
     (getattr(proc, "net_connections", None) and (lambda: proc.net_connections(kind="tcp"))) or \
     (lambda: proc.connections(kind="tcp"))
while len(times) < runs and (not times or spent < cap):
    t0 = time.perf_counter(); res = fn(); dt = time.perf_counter() - t0
    times.append(dt * 1e3); spent += dt; count = len(res)
print(json.dumps({"times_ms": times, "count": count, "version": psutil.__version__}))
"""

def psutil_run(mode, pid=0):
    if not psutil_py:
        return None
    out = subprocess.run([psutil_py, "-c", PSUTIL_SNIPPET, mode, str(runs), str(budget), str(pid)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)

# ---- correctness: (pid, local port, remote port, state) from porteye vs ss -tanpH, back to back ----
log("correctness check")
set_file = os.path.join(work, "porteye.set")
polltimer_run("--mode", "set", "--out", set_file)
ss_out = subprocess.run(["ss", "-tanpH"], check=True, capture_output=True, text=True).stdout
SS_STATES = {"ESTAB": 1, "SYN-SENT": 2, "SYN-RECV": 3, "FIN-WAIT-1": 4, "FIN-WAIT-2": 5, "TIME-WAIT": 6,
             "UNCONN": 7, "CLOSE-WAIT": 8, "LAST-ACK": 9, "LISTEN": 10, "CLOSING": 11}
import re
def port_of(endpoint):
    return int(endpoint.rsplit(":", 1)[1]) if endpoint.rsplit(":", 1)[1] != "*" else 0
ss_set = Counter()
for line in ss_out.splitlines():
    f = line.split()
    if len(f) < 5:
        continue
    state = SS_STATES.get(f[0], -1)
    lport, rport = port_of(f[3]), port_of(f[4])
    pids = sorted(set(int(p) for p in re.findall(r"pid=(\d+)", line))) or [0]
    for p in pids:
        ss_set[(p, lport, rport, state)] += 1
pe_set = Counter()
for line in open(set_file):
    p, lp, rp, st = map(int, line.split())
    pe_set[(p, lp, rp, st)] += 1
only_pe = pe_set - ss_set
only_ss = ss_set - pe_set
correct = {"porteye_records": sum(pe_set.values()), "ss_records": sum(ss_set.values()),
           "only_porteye": sum(only_pe.values()), "only_ss": sum(only_ss.values()),
           "equal": not only_pe and not only_ss,
           "examples_only_porteye": [list(k) for k in list(only_pe)[:5]],
           "examples_only_ss": [list(k) for k in list(only_ss)[:5]]}
raw["correctness"] = correct

# ---- host-wide ----
log("porteye steady-state polls")
steady = polltimer_run("--mode", "steady", "--iterations", str(runs))
log("porteye cold polls")
cold = polltimer_run("--mode", "cold", "--iterations", str(runs))
log("ss -tan (no owners)")
ss_plain = timed_command(["ss", "-tan"])
log("ss -tanp")
ss_p = timed_command(["ss", "-tanp"])
log("lsof -nP -iTCP")
lsof_host = timed_command(["lsof", "-nP", "-iTCP"])
log("psutil net_connections")
ps_host = psutil_run("host")
# ---- per PID ----
log(f"per-PID (pid {target})")
pidstep = polltimer_run("--mode", "pid", "--pid", str(target), "--iterations", str(runs))
lsof_pid = timed_command(["lsof", "-nP", "-a", "-p", str(target), "-iTCP"])
lsof_pid_lines = subprocess.run(["lsof", "-nP", "-a", "-p", str(target), "-iTCP"], capture_output=True,
                                text=True).stdout.count("\n") - 1
ps_pid = psutil_run("pid", target)

raw.update({"porteye_steady": steady, "porteye_cold": cold, "ss_tan_ms": ss_plain, "ss_tanp_ms": ss_p,
            "lsof_host_ms": lsof_host, "psutil_host": ps_host, "porteye_pid": pidstep,
            "lsof_pid_ms": lsof_pid, "lsof_pid_lines": lsof_pid_lines, "psutil_pid": ps_pid})

# ---- report ----
def ms(values_us):
    return [v / 1e3 for v in values_us]

def fmt(v):
    if v >= 1000: return f"{v/1e3:.2f} s"
    if v >= 10: return f"{v:.1f} ms"
    return f"{v:.2f} ms"

def row(label, times, ref, how, note=""):
    med, lo = statistics.median(times), min(times)
    ratio = med / ref
    rel = "1x (reference)" if abs(ratio - 1) < 1e-9 else (f"{ratio:.1f}x slower" if ratio >= 1 else f"{1/ratio:.1f}x faster")
    return f"| {label} | {how} | {len(times)} | {fmt(med)} | {fmt(lo)} | {rel} |{(' ' + note) if note else ''}"

a = ms(steady["times_us"]); b = ms(cold["times_us"]); f = ms(pidstep["times_us"])
a_med, f_med = statistics.median(a), statistics.median(f)
amort = (59 * a_med + statistics.median(b)) / 60
socks = steady["sockets"]
kernel = os.uname().release
print(f"### N = {farm['connections']} connections ({socks} TCP sockets in the namespace, "
      f"{len(farm['workers'])} worker processes + 1 target)\n")
if farm.get("error"):
    print(f"**Farm stopped short of {farm['requested']}**: {farm['error']}\n")
print(f"Kernel {kernel}, {os.cpu_count()} CPUs, runs per row K = {runs} (capped at {budget:.0f} s per slow tool); "
      f"farm set up in {raw['farm_seconds']:.1f} s.\n")
print(f"**Correctness** (porteye one poll vs `ss -tanpH` right after, as (pid, local port, remote port, state) multisets): "
      f"set equal: **{'yes' if correct['equal'] else 'no'}** — porteye {correct['porteye_records']} records, "
      f"ss {correct['ss_records']}; only in porteye: {correct['only_porteye']}, only in ss: {correct['only_ss']}"
      + (f" (e.g. porteye {correct['examples_only_porteye']}, ss {correct['examples_only_ss']})" if not correct['equal'] else "")
      + "\n")
print("**Host-wide** (ratio vs one porteye steady-state poll)\n")
print("| what | how measured | runs | median | min | vs porteye steady poll |")
print("|---|---|---|---|---|---|")
print(row("(a) porteye steady-state poll", a, a_med, "in-process, PortMonitor::poll()"))
print(row("(a') porteye poll amortized", [amort], a_med, "(59·a + b)/60: default forced rescan every 60 polls"))
print(row("(b) porteye cold poll", b, a_med, "in-process, new PortMonitor: dump + full /proc walk"))
print(row("(c0) ss -tan (no owners)", ss_plain, a_med, "process wall time, output to /dev/null"))
print(row("(c) ss -tanp", ss_p, a_med, "process wall time, output to /dev/null"))
print(row("(d) lsof -nP -iTCP", lsof_host, a_med, "process wall time, output to /dev/null"))
if ps_host:
    print(row(f"(e) psutil {ps_host['version']} net_connections(kind='tcp')", ps_host["times_ms"], a_med,
              "in-process (python3), call only"))
print()
print(f"**Per PID** (pid {target} holding {farm['target_sockets']} sockets; ratio vs one porteye PidPortTracker step)\n")
print("| what | how measured | runs | median | min | vs porteye PID step |")
print("|---|---|---|---|---|---|")
print(row("(f) porteye PidPortTracker step", f, f_med, "in-process: /proc/PID/fd + join; dump only for new sockets"))
fd = ms(pidstep["dump_us"])
print(f"| (f') of which sock_diag dumps | in-process | {len(fd)} | {fmt(statistics.median(fd))} | {fmt(min(fd))} | "
      f"{100 * statistics.median(fd) / f_med:.0f}% of (f) |")
print(row("(g) lsof -nP -a -p PID -iTCP", lsof_pid, f_med, "process wall time"))
if ps_pid:
    print(row(f"(h) psutil Process(pid).net_connections()", ps_pid["times_ms"], f_med, "in-process (python3), call only"))
print()
print(f"Found by each: porteye PID step {pidstep['records']} sockets, lsof {lsof_pid_lines} lines"
      + (f", psutil {ps_pid['count']} connections" if ps_pid else "") + "; host-wide porteye "
      f"{steady['records']} records" + (f", psutil {ps_host['count']} connections" if ps_host else "") + ".\n")
print(f"**Memory** of porteye-polltimer: steady mode RSS {steady['rss_kb']/1024:.1f} MiB (peak {steady['hwm_kb']/1024:.1f} MiB), "
      f"cold mode peak {cold['hwm_kb']/1024:.1f} MiB, PID mode peak {pidstep['hwm_kb']/1024:.1f} MiB.\n")
print(f"First (baseline) poll: {steady['first_us']/1e3:.1f} ms; steady polls walked /proc {steady['walks'] - 1} times "
      f"after the baseline; a cold walk read {cold['fds_read']} fds in {cold['processes_scanned']} processes.\n")
print(f"Headline: `ss -tanp` is {statistics.median(ss_p)/a_med:.0f}x slower than a porteye steady-state poll; "
      f"`lsof -nP -iTCP` {statistics.median(lsof_host)/a_med:.0f}x"
      + (f"; psutil {statistics.median(ps_host['times_ms'])/a_med:.0f}x" if ps_host else "")
      + f". A cold porteye poll costs {statistics.median(b)/a_med:.1f}x a steady one "
      f"and is {statistics.median(ss_p)/statistics.median(b):.1f}x faster than `ss -tanp`. Per PID, `lsof -p` is "
      f"{statistics.median(lsof_pid)/f_med:.0f}x"
      + (f" and psutil {statistics.median(ps_pid['times_ms'])/f_med:.1f}x" if ps_pid else "")
      + " the cost of a porteye PID step.\n")
total = time.time() - float(os.environ["STARTED"])
print(f"compare.sh wall time in the namespace: {total:.0f} s.")
raw["total_seconds"] = total
if os.environ.get("JSON_OUT"):
    with open(os.environ["JSON_OUT"], "w") as out:
        json.dump(raw, out, indent=1)
PY
