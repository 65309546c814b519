#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The targets of issue 11 (event source) and the per-namespace cost of issue 10, in ONE run,
# side by side and as ratios, in a private network namespace (see BENCHMARKS.md):
#   (1) listen()/close() -> event at a control-socket subscriber and on D-Bus, events vs polling
#   (2) idle CPU per second at 20k sockets vs one raw sock_diag dump    (5) CPU per delivered event
#   (3) polling mode CPU per poll at 200k sockets vs one raw dump        (6) flat-out churn slowdown
#   (4) RSS at 100k sockets, events on and off                           (7) ss -E, tcplife, tcpstates
#   (8) CPU per poll with 0, 10 and 50 extra network namespaces (in a pid namespace of its own)
#
#   sudo tests/bench/events.sh [--build-dir DIR] [--json FILE] [--quick] [-- DRIVER OPTIONS...]
#
#   --build-dir DIR  Release build with porteyed, porteye-netns-helper (default: <repo>/build)
#   --json FILE      also write every raw number there
#   --quick          short run for development (fewer samples, shorter windows, no 200k)
#   after --: options of tests/bench/events_bench.py (e.g. --samples 200 --rates 300 3000)
#
# Needs root, unshare, ip, cc, python3, dbus-daemon/dbus-monitor (optional: D-Bus rows),
# bpfcc-tools (optional: tcplife/tcpstates rows). Prints the markdown report on stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir="$repo/build"
json_out=""
quick=0
driver_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --build-dir) build_dir=$2; shift 2 ;;
        --json) json_out=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --) shift; driver_args=("$@"); break ;;
        -h|--help) sed -n '3,19p' "$0"; exit 0 ;;
        *) echo "events.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

if [[ "${PORTEYE_BENCH_IN_NETNS:-}" != 1 ]]; then
    if [[ $(id -u) -ne 0 ]]; then echo "events.sh: needs root (unshare, eBPF)" >&2; exit 1; fi
    for tool in unshare ip cc python3 cmake; do
        command -v "$tool" >/dev/null || { echo "events.sh: missing $tool" >&2; exit 1; }
    done
    if [[ ! -x "$build_dir/daemon/porteyed" || ! -x "$build_dir/daemon/porteye-netns-helper" ]]; then
        echo "events.sh: building porteyed and porteye-netns-helper in $build_dir" >&2
        [[ -f "$build_dir/CMakeCache.txt" ]] || cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >&2
        cmake --build "$build_dir" -j2 --target porteyed porteye-netns-helper >&2
    fi
    export PORTEYE_BENCH_IN_NETNS=1
    exec unshare -n bash "$0" --build-dir "$build_dir" ${json_out:+--json "$json_out"} \
        $([[ $quick == 1 ]] && echo --quick) -- "${driver_args[@]}"
fi

ip link set lo up
ulimit -n "$(cat /proc/sys/fs/nr_open)" 2>/dev/null || ulimit -n 1048576 2>/dev/null || true
work=$(mktemp -d /tmp/porteye-events.XXXXXX)
bus_pid=""
cleanup() {
    [[ -n "$bus_pid" ]] && kill "$bus_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cc -O2 -Wall -Wextra -o "$work/churn" "$here/churn.c"
cc -O2 -Wall -Wextra -o "$work/rawdump" "$here/rawdump.c"
: >"$work/empty.conf"

bus_args=()
if command -v dbus-daemon >/dev/null && command -v dbus-monitor >/dev/null; then
    bus_pid=$(dbus-daemon --session --address="unix:path=$work/bus" --fork --print-pid=1)
    bus_args=(--bus-address "unix:path=$work/bus")
else
    echo "events.sh: no dbus-daemon/dbus-monitor: D-Bus rows left out" >&2
fi

quick_args=()
if [[ $quick == 1 ]]; then
    quick_args=(--samples 30 --samples-polling 10 --idle-events 10 --idle-polling 5 --churn-seconds 5
        --max-seconds 3 --max-rounds 1 --connections-rss 20000 --skip-200k --ns-seconds 5 --namespaces 0 5)
fi

python3 "$here/events_bench.py" run --work "$work" --porteyed "$build_dir/daemon/porteyed" \
    --helper "$build_dir/daemon/porteye-netns-helper" --empty-conf "$work/empty.conf" \
    --socket-farm "$here/socket_farm.py" --churn "$work/churn" --rawdump "$work/rawdump" \
    ${json_out:+--json "$json_out"} "${bus_args[@]}" "${quick_args[@]}" "${driver_args[@]}"
