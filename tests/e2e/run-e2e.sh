#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end test of the Debian package on a real systemd: packages a finished
# build directory with cpack (on a finished tree its preinstall step builds nothing), boots a cached Debian 12 root with
# systemd-nspawn --boot, installs the package with dpkg -i and checks what a
# new user would do: enable --now, D-Bus, porteyectl watch/list, the journal,
# the watchdog, the Cockpit page (cockpit-porteye, in Chromium), stop and removal.
#
# Usage: tests/e2e/run-e2e.sh BUILD_DIR        (or PORTEYE_BUILD_DIR=BUILD_DIR)
# Environment:
#   PORTEYE_E2E_CACHE   where the debootstrapped root is kept (default /var/cache/porteye-e2e)
#   PORTEYE_E2E_MIRROR  Debian mirror (default: the URIs: line of /etc/apt/sources.list.d/debian.sources)
#   PORTEYE_E2E_KEEP=1  keep the temporary directory (logs) after the run
# Needs root, systemd-nspawn (systemd-container), debootstrap and cpack.
# Prints PASS/FAIL per check and "N passed, M failed"; exits 0 only when all
# passed, 77 (skipped) when it cannot run here.
set -euo pipefail

readonly SUITE=bookworm
readonly PORT_WATCH=4711    # the watched socat listens here
readonly PORT_NOBODY=4712   # nobody's own listener, visible to nobody
readonly PORT_JOURNAL=4713  # a listener in a unit of its own, for the journal entries
readonly PORT_METRICS=9656  # /metrics over TCP, with the drop-in docs/deployment.md gives
readonly MSGID_LISTEN=d15ff3b49c784e7eac0811ff0ff1a53e    # daemon/porteyed/journal/MessageIds.hpp
readonly MSGID_UNLISTEN=16aa06fd230a44beaaf4cad0165e41b3
readonly PORT_UNIT=4715     # socat in the transient unit porteye-e2e-web.service
readonly PORT_ACTIVATED=4716 # a .socket unit's listener, held by PID 1 only
readonly PORT_NETNS=4717    # socat inside the network namespace porteye-e2e (ip netns add)
readonly PORT_COCKPIT_ROOT=4722 # root's listener, which the Cockpit page shows pe-admin, not pe-user
readonly BASE_PACKAGES=(systemd systemd-sysv dbus libsystemd0 libsdbus-c++1 libspdlog1.10 iproute2 procps socat)
# Cockpit (its bridge, login page and shell) and sudo for its administrative access: installed with
# apt-get after debootstrap, whose own ordering fails to configure their dependencies (dconf-service).
readonly COCKPIT_PACKAGES=(cockpit-bridge cockpit-ws cockpit-system sudo)

build_dir=${1:-${PORTEYE_BUILD_DIR:-}}
cache=${PORTEYE_E2E_CACHE:-/var/cache/porteye-e2e}

log() { printf '%s\n' "$*" >&2; }
skip() {
    log "SKIP: $*"
    exit 77
}

[[ -n $build_dir ]] || {
    log "usage: $0 BUILD_DIR   (or set PORTEYE_BUILD_DIR)"
    exit 2
}
[[ -f $build_dir/CMakeCache.txt ]] || {
    log "$build_dir is not a CMake build directory"
    exit 2
}
build_dir=$(cd "$build_dir" && pwd)
[[ $(id -u) -eq 0 ]] || skip "needs root (debootstrap, systemd-nspawn)"
for tool in systemd-nspawn debootstrap cpack nsenter flock dpkg-deb apt-cache; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (packaging/install-deps.sh installs it)"
done

passed=0
failed=0
work=$(mktemp -d /tmp/porteye-e2e.XXXXXX)
nspawn_pid=""
cgroup_dirs=()
container_pid=""

pass() {
    passed=$((passed + 1))
    printf 'PASS: %s\n' "$1"
}
fail() {
    failed=$((failed + 1))
    printf 'FAIL: %s\n' "$1"
    [[ -n ${2:-} && -s $2 ]] && sed 's/^/    | /' "$2" | tail -n 25
    return 0
}
summary() {
    printf '%d passed, %d failed\n' "$passed" "$failed"
}
# Ends the run early when a step that later checks depend on fails.
abort() {
    fail "$@"
    summary
    exit 1
}

# ---- cleanup: always power the container off and remove its cgroups --------
cleanup() {
    local rc=$?
    set +e
    if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
        container_pid=$(pgrep -P "$nspawn_pid" -x systemd | head -n 1)
        if [[ -n $container_pid ]]; then
            timeout 10 nsenter -t "$container_pid" -a systemctl poweroff --no-block >/dev/null 2>&1
        fi
        for _ in $(seq 100); do
            kill -0 "$nspawn_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$nspawn_pid" 2>/dev/null; then
            log "container did not power off; killing systemd-nspawn ($nspawn_pid)"
            kill -TERM "$nspawn_pid" 2>/dev/null
            sleep 2
            kill -KILL "$nspawn_pid" 2>/dev/null
        fi
        wait "$nspawn_pid" 2>/dev/null
    fi
    # Whatever is left in our cgroups was started by this run: kill it by PID, then
    # remove the cgroups depth-first (nspawn leaves payload/ and supervisor/ there).
    local dir pids
    for dir in "${cgroup_dirs[@]}"; do
        [[ -d $dir ]] || continue
        pids=$(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null)
        # shellcheck disable=SC2086 # one PID per word
        [[ -n $pids ]] && kill -KILL $pids 2>/dev/null && sleep 0.5
        find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null
        [[ -d $dir ]] && log "could not remove cgroup $dir"
    done
    if [[ ${PORTEYE_E2E_KEEP:-0} == 1 ]]; then
        log "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. the package, from cpack of the build directory ----------------------
log "building the package from $build_dir"
mkdir -p "$work/deb"
# Packages the finished tree as it is: building it here would rebuild a tree that other tests
# may be running from (tests/run.sh runs this after the build and every other test).
for binary in daemon/porteyed client/porteyectl; do
    [[ -x $build_dir/$binary ]] || abort "$build_dir is built (no $binary: build it first)" /dev/null
done
if ! (cd "$build_dir" && cpack -G DEB -B "$work/deb") >"$work/cpack.log" 2>&1; then
    abort "cpack -G DEB" "$work/cpack.log"
fi
shopt -s nullglob
debs=("$work"/deb/porteye_*.deb)
cockpit_debs=("$work"/deb/cockpit-porteye_*_all.deb)
shopt -u nullglob
((${#debs[@]} == 1)) || abort "cpack produced exactly one porteye_*.deb" "$work/cpack.log"
((${#cockpit_debs[@]} == 1)) || abort "cpack produced exactly one cockpit-porteye_*_all.deb" "$work/cpack.log"
deb=${debs[0]}
cockpit_deb=${cockpit_debs[0]}
pass "cpack -G DEB produced $(basename "$deb") and $(basename "$cockpit_deb")"

# ---- 2. a cached Debian root with the package's dependencies ----------------
mirror=${PORTEYE_E2E_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}

# Runtime dependencies of the .deb, first alternative, versions dropped; virtual
# names (libspdlog1.10-fmt9) resolved to a package that provides them.
resolve_package() {
    local name=$1 provider
    if apt-cache show --no-all-versions "$name" 2>/dev/null | grep '^Package:' >/dev/null; then  # no -q: SIGPIPE + pipefail
        echo "$name"
        return
    fi
    provider=$(apt-cache showpkg "$name" 2>/dev/null |
        awk '/^Reverse Provides:/ {found=1; next} found && NF {print $1; exit}')
    echo "${provider:-$name}"
}
packages=("${BASE_PACKAGES[@]}")
while read -r dep; do
    [[ -n $dep ]] && packages+=("$(resolve_package "$dep")")
done < <(for d in "$deb" "$cockpit_deb"; do dpkg-deb -f "$d" Depends; echo ,; done | tr ',' '\n' |
    sed -e 's/|.*//' -e 's/(.*)//' -e 's/:.*//' -e 's/[[:space:]]//g' | grep -vx -e porteye -e 'cockpit-.*')
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
include=$(IFS=,; echo "${packages[*]}")
key=$(printf '%s\n' "$SUITE" "$mirror" "$include" "${COCKPIT_PACKAGES[*]}" | sha256sum | cut -c1-12)
rootfs=$cache/$SUITE-$key

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ ! -x $rootfs/lib/systemd/systemd ]]; then
    log "debootstrap $SUITE into $rootfs (packages: $include; then ${COCKPIT_PACKAGES[*]}; about a minute)"
    umount "$rootfs.tmp/proc" 2>/dev/null || true # left mounted by a run that was killed
    rm -rf --one-file-system "$rootfs.tmp"
    if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$rootfs.tmp" "$mirror" \
        >"$work/debootstrap.log" 2>&1; then
        rm -rf "$rootfs.tmp"
        abort "debootstrap $SUITE ($mirror)" "$work/debootstrap.log"
    fi
    # A machine-id makes journald keep the journal; the overlay keeps runs apart.
    systemd-machine-id-setup --root="$rootfs.tmp" >/dev/null 2>&1 || true
    mount -t proc proc "$rootfs.tmp/proc"
    apt_rc=0
    chroot "$rootfs.tmp" sh -ec 'apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
        apt-get clean' sh "${COCKPIT_PACKAGES[@]}" >>"$work/debootstrap.log" 2>&1 || apt_rc=$?
    umount "$rootfs.tmp/proc"
    if ((apt_rc != 0)); then
        rm -rf "$rootfs.tmp"
        abort "apt-get install ${COCKPIT_PACKAGES[*]} in the new root" "$work/debootstrap.log"
    fi
    mv "$rootfs.tmp" "$rootfs"
fi
flock -u 9
pass "Debian $SUITE root ready ($rootfs)"

# ---- 3. systemd-nspawn, always from a dedicated cgroup ----------------------
# nspawn without a host systemd (--register=no --keep-unit) makes payload/ and
# supervisor/ cgroups under its own: give each run of it a fresh parent cgroup.
# new_cgroups NAME: creates NAME in every cgroup hierarchy nspawn uses and
# prints them (space-separated); cleanup removes them.
new_cgroups() {
    local hierarchy dirs=()
    for hierarchy in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
        # Only real cgroup mounts (v2 at the root, or the hybrid unified and name=systemd ones).
        [[ -f $hierarchy/cgroup.procs ]] || continue
        mkdir "$hierarchy/$1"
        dirs+=("$hierarchy/$1")
    done
    echo "${dirs[*]}"
}
# nspawn_in CGROUP_DIRS ARGS...: execs systemd-nspawn with ARGS from those cgroups.
nspawn_in() {
    local dir
    for dir in $1; do echo "$BASHPID" >"$dir/cgroup.procs"; done
    shift
    exec systemd-nspawn -q -D "$rootfs" --register=no --keep-unit --volatile=overlay \
        --private-network --bind-ro="$work/deb:/opt/payload" "$@"
}

# 3a. Without systemd as PID 1 (a chroot, an image build): the maintainer
# scripts must create the account and touch nothing else.
cg_plain=$(new_cgroups "porteye-e2e-$$-plain")
read -ra dirs <<<"$cg_plain"
cgroup_dirs+=("${dirs[@]}")
if (nspawn_in "$cg_plain" --pipe sh -ec "
    dpkg -i /opt/payload/$(basename "$deb")
    getent passwd porteye
    dpkg -r porteye
    dpkg --purge porteye
    ! test -e /etc/porteye/porteyed.conf") >"$work/plain.log" 2>&1 </dev/null; then
    pass "dpkg -i / -r / --purge without systemd as PID 1"
else
    fail "dpkg -i / -r / --purge without systemd as PID 1" "$work/plain.log"
fi

# 3b. Boot it.
cg_name=porteye-e2e-$$
cg_boot=$(new_cgroups "$cg_name")
read -ra dirs <<<"$cg_boot"
cgroup_dirs+=("${dirs[@]}")
(nspawn_in "$cg_boot" --boot --console=read-only --machine="$cg_name") >"$work/console.log" 2>&1 </dev/null &
nspawn_pid=$!

# Runs a command inside the container (all its namespaces), as root.
in_ct() {
    nsenter -t "$container_pid" -a "$@"
}

booted=0
for _ in $(seq 300); do
    kill -0 "$nspawn_pid" 2>/dev/null || break
    container_pid=$(pgrep -P "$nspawn_pid" -x systemd | head -n 1 || true)
    if [[ -n $container_pid ]]; then
        state=$(in_ct systemctl is-system-running --wait 2>/dev/null || true)
        if [[ $state == running || $state == degraded ]]; then
            booted=1
            break
        fi
    fi
    sleep 0.1
done
((booted)) || abort "container booted" "$work/console.log"
pass "container booted with systemd ($state)"
if [[ $state == degraded ]]; then
    in_ct systemctl --failed --no-legend >&2 || true
fi

# check NAME CMD...: runs CMD on the host (use in_ct for the container).
check() {
    local name=$1
    shift
    if "$@" >"$work/check.log" 2>&1; then
        pass "$name"
    else
        fail "$name" "$work/check.log"
    fi
}

# ---- 4. install and start, as a new user would ------------------------------
if ! in_ct dpkg -i "/opt/payload/$(basename "$deb")" >"$work/dpkg.log" 2>&1; then
    abort "dpkg -i $(basename "$deb")" "$work/dpkg.log"
fi
pass "dpkg -i $(basename "$deb")"
check "user and group porteye created" in_ct sh -c 'getent passwd porteye && getent group porteye'

if ! in_ct systemctl enable --now porteyed >"$work/enable.log" 2>&1; then
    in_ct journalctl -u porteyed --no-pager -n 30 >>"$work/enable.log" 2>&1 || true
    abort "systemctl enable --now porteyed" "$work/enable.log"
fi
started_at=$(date +%s)
pass "systemctl enable --now porteyed"
check "porteyed is active" in_ct systemctl is-active --quiet porteyed.service
check "porteyed.socket is active" in_ct systemctl is-active --quiet porteyed.socket
main_pid=$(in_ct systemctl show -p MainPID --value porteyed.service)

caps_ok() {
    local user caps
    user=$(in_ct ps -o user= -p "$main_pid" | tr -d ' ')
    # shellcheck disable=SC2016 # awk's $2
    caps=$(in_ct awk '/^CapEff:/ {print $2}' "/proc/$main_pid/status")
    # 000000c000080004 = cap_dac_read_search,cap_sys_ptrace,cap_perfmon,cap_bpf; systemd-nspawn
    # keeps CAP_BPF and CAP_PERFMON out of the container, so here the last two may be missing
    # (porteyed then polls). Never CAP_SYS_ADMIN: that is porteyed-netns.service's.
    echo "user=$user CapEff=$caps (want porteye, 000000c000080004 or, in a container, 0000000000080004)"
    [[ $user == porteye && ($caps == 000000c000080004 || $caps == 0000000000080004) ]]
}
check "porteyed runs as porteye with CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE (and CAP_BPF, CAP_PERFMON) only" caps_ok

# The capabilities read any file they reach: the unit keeps secrets out of reach.
# as_service CMD...: runs CMD in porteyed's mount namespace (its view of the files
# and its /proc) with porteyed's user and capabilities. Without the mount namespace
# the same command reads the container's /etc/shadow: the positive control.
as_service() {
    in_ct nsenter -t "$main_pid" -m -- setpriv --reuid=porteye --regid=porteye --init-groups \
        --inh-caps=+dac_read_search,+sys_ptrace --ambient-caps=+dac_read_search,+sys_ptrace "$@"
}
secrets_hidden_ok() {
    echo "outside porteyed's namespace, with its privileges:"
    in_ct setpriv --reuid=porteye --regid=porteye --init-groups \
        --inh-caps=+dac_read_search,+sys_ptrace --ambient-caps=+dac_read_search,+sys_ptrace \
        grep -c '^root:' /etc/shadow || return 1
    echo "inside:"
    as_service sh -c "grep -c '^root:' /etc/shadow" && return 1
    as_service sh -c 'ls -A /var/lib; test -z "$(ls -A /var/lib | grep -vx -e porteye -e sss)"' || return 1
    as_service test -d /var/lib/porteye || return 1
    # shellcheck disable=SC2016 # expanded by the inner shell
    as_service sh -c 'for d in /etc/ssh /root /home /var/log /var/cache /var/backups; do
        [ -z "$(find "$d" -mindepth 1 -maxdepth 1 2>/dev/null)" ] || { echo "$d is not empty"; exit 1; }
    done'
}
check "porteyed cannot read /etc/shadow, /etc/ssh, /root, /home, other services' /var/lib, logs" secrets_hidden_ok
proc_subset_ok() {
    as_service test -d "/proc/$main_pid/fd" || return 1
    ! as_service test -e /proc/meminfo
}
check "porteyed's /proc holds only process directories (ProcSubset=pid)" proc_subset_ok

# ---- 5. D-Bus ----------------------------------------------------------------
check "busctl --system call ... ListPorts a{sv} 0" in_ct busctl --system call org.porteye.PortEye1 \
    /org/porteye/PortEye1 org.porteye.PortEye1 ListPorts 'a{sv}' 0

# ---- 6. porteyectl watch sees a port opened and closed ----------------------
# The watched PID starts without a port and execs socat, which listens: the
# watch must report it opened; killing socat must report it closed (and exit 4).
in_ct sh -c "nohup sh -c 'sleep 1.5; exec socat TCP-LISTEN:$PORT_WATCH,fork,reuseaddr /dev/null' \
    >/dev/null 2>&1 </dev/null & echo \$! >/run/e2e-socat.pid"
socat_pid=$(in_ct cat /run/e2e-socat.pid)
in_ct sh -c "timeout 20 porteyectl watch $socat_pid --interval 0.2 >/run/e2e-watch.out 2>/run/e2e-watch.err; \
    echo \$? >/run/e2e-watch.rc" &
watch_job=$!
wait_for_listen() {
    for _ in $(seq 100); do
        in_ct ss -Htln "sport = :$PORT_WATCH" | grep -q . && return 0
        sleep 0.1
    done
    return 1
}
check "socat (PID $socat_pid) listens on port $PORT_WATCH" wait_for_listen
sleep 1
in_ct kill "$socat_pid" || true
wait "$watch_job" || true
in_ct cat /run/e2e-watch.out /run/e2e-watch.err >"$work/watch.log" 2>&1 || true
watch_rc=$(in_ct cat /run/e2e-watch.rc 2>/dev/null || echo none)
watch_line() {
    grep -qxF "$1" "$work/watch.log" || {
        cat "$work/watch.log"
        return 1
    }
}
check "watch header line" watch_line "Monitoring active ports for PID $socat_pid every 0.2 second(s). Press Ctrl+C to stop."
check "watch: New ports opened: {$PORT_WATCH}" watch_line "New ports opened: {$PORT_WATCH}"
check "watch: Active ports: {$PORT_WATCH}" watch_line "Active ports: {$PORT_WATCH}"
check "watch: Ports closed: {$PORT_WATCH}" watch_line "Ports closed: {$PORT_WATCH}"
check "watch exits 4 when the process exits (got $watch_rc)" test "$watch_rc" = 4

# ---- 7. porteyectl list as an unprivileged user -----------------------------
in_ct sh -c "nohup setpriv --reuid=nobody --regid=nogroup --clear-groups \
    socat TCP-LISTEN:$PORT_NOBODY,fork,reuseaddr /dev/null >/dev/null 2>&1 </dev/null &"
in_ct sh -c "nohup socat TCP-LISTEN:$PORT_WATCH,fork,reuseaddr /dev/null >/dev/null 2>&1 </dev/null &"
sleep 1.5 # one poll interval (1 s) and some
as_nobody() {
    in_ct setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
as_nobody porteyectl list --json >"$work/list-nobody.json" 2>"$work/list-nobody.err" && list_rc=0 || list_rc=$?
list_ok() {
    cat "$work/list-nobody.err" "$work/list-nobody.json"
    [[ $list_rc == 0 ]] && grep -q '^[[{]' "$work/list-nobody.json"
}
check "porteyectl list --json as nobody (exit $list_rc)" list_ok
check "nobody sees its own listener on port $PORT_NOBODY" \
    grep -Eq "\"local_port\": *$PORT_NOBODY\b" "$work/list-nobody.json"
check "nobody does not see root's listener on port $PORT_WATCH" \
    sh -c "! grep -Eq '\"local_port\": *$PORT_WATCH\b' '$work/list-nobody.json'"
check "porteyectl --socket status as nobody (control socket)" as_nobody porteyectl --socket status

# ---- 7b. journal events: one entry per listener, its fields and the catalog ---
# A listener in a unit of its own: its entry must name the unit, the process and
# the PID, under the fixed MESSAGE_ID, findable by port, and explained by the catalog.
# socat ends with 128+15 on SIGTERM: a clean stop, not a failed unit (checked below).
in_ct systemd-run --quiet --unit=porteye-e2e-jr -p "SuccessExitStatus=143 SIGTERM" \
    socat "TCP-LISTEN:$PORT_JOURNAL,fork,reuseaddr" /dev/null
jr_pid=$(in_ct systemctl show -p MainPID --value porteye-e2e-jr.service)
# journal_entries MESSAGE_ID FILE: waits (10 s at most) for porteyed's entry of PORT_JOURNAL.
journal_entries() {
    for _ in $(seq 100); do
        in_ct journalctl --no-pager -o json "MESSAGE_ID=$1" "PORTEYE_PORT=$PORT_JOURNAL" >"$2" 2>&1 || true
        grep -q '^{' "$2" && return 0
        sleep 0.1
    done
    return 1
}
# entry_fields FILE KEY=VALUE|KEY~=TEXT...: the last entry in FILE has each field with that
# value (=) or containing that text (~=).
entry_fields() {
    local file=$1
    shift
    python3 - "$file" "$@" <<'PY'
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1]) if line.startswith('{')]
entry = entries[-1]
print(json.dumps({k: v for k, v in entry.items() if k.startswith(('PORTEYE_', 'MESSAGE', 'PRIORITY'))}, indent=1))
def holds(arg):
    key, value = arg.split('=', 1)
    if key.endswith('~'):
        return value in str(entry.get(key[:-1]))
    return str(entry.get(key)) == value
bad = [arg for arg in sys.argv[2:] if not holds(arg)]
if bad:
    print('mismatch:', bad)
    sys.exit(1)
PY
}
listen_entry_ok() {
    journal_entries "$MSGID_LISTEN" "$work/journal-listen.json" || { cat "$work/journal-listen.json"; return 1; }
    entry_fields "$work/journal-listen.json" PORTEYE_ACTION=added PORTEYE_PROTOCOL=tcp PORTEYE_FAMILY=ipv4 \
        PORTEYE_LOCAL_ADDRESS=0.0.0.0 PORTEYE_PORT=$PORT_JOURNAL PORTEYE_STATE=LISTEN PORTEYE_PID="$jr_pid" \
        PORTEYE_PROCESS=socat PORTEYE_USER=root PORTEYE_UNIT=porteye-e2e-jr.service PRIORITY=6 \
        "MESSAGE~=socat[$jr_pid] started listening on tcp 0.0.0.0:$PORT_JOURNAL (porteye-e2e-jr.service" &&
        grep -q '"PORTEYE_SEQUENCE" *: *"[0-9]' "$work/journal-listen.json"
}
check "journalctl MESSAGE_ID=<listening> PORTEYE_PORT=$PORT_JOURNAL: socat in porteye-e2e-jr.service, its fields" \
    listen_entry_ok
catalog_ok() {
    in_ct journalctl --no-pager -x "MESSAGE_ID=$MSGID_LISTEN" "PORTEYE_PORT=$PORT_JOURNAL" >"$work/journal-x.log" 2>&1
    cat "$work/journal-x.log"
    grep -q "Subject: socat started listening on tcp 0.0.0.0 port $PORT_JOURNAL" "$work/journal-x.log" &&
        grep -q "Defined-By: porteye" "$work/journal-x.log"
}
check "journalctl -x shows the catalog text (installed, and indexed by systemd's dpkg trigger)" catalog_ok
in_ct systemctl stop porteye-e2e-jr.service
unlisten_entry_ok() {
    journal_entries "$MSGID_UNLISTEN" "$work/journal-unlisten.json" || { cat "$work/journal-unlisten.json"; return 1; }
    entry_fields "$work/journal-unlisten.json" PORTEYE_ACTION=removed PORTEYE_PORT=$PORT_JOURNAL \
        PORTEYE_UNIT=porteye-e2e-jr.service
}
check "journalctl MESSAGE_ID=<stopped listening> PORTEYE_PORT=$PORT_JOURNAL after systemctl stop" unlisten_entry_ok
# ---- 7b. the unit behind a socket -------------------------------------------
# A transient service (systemd-run) and a socket unit whose service never ran:
# the first is named by its unit, the second is held by PID 1 alone (init.scope).
in_ct systemd-run --quiet --unit=porteye-e2e-web socat TCP-LISTEN:$PORT_UNIT,fork,reuseaddr /dev/null
in_ct sh -c "printf '[Socket]\nListenStream=$PORT_ACTIVATED\n' >/run/systemd/system/porteye-e2e-act.socket
    printf '[Service]\nExecStart=/bin/sleep infinity\n' >/run/systemd/system/porteye-e2e-act.service
    systemctl daemon-reload && systemctl start porteye-e2e-act.socket"
# list_port PORT FILE [FILTER...]: porteyectl list --json for PORT, once porteyed has a record.
list_port() {
    local port=$1 file=$2
    shift 2
    for _ in $(seq 100); do
        in_ct porteyectl list --json --port "$port" "$@" >"$file" 2>&1 && grep -q '"pid"' "$file" && return 0
        sleep 0.1
    done
    cat "$file"
    return 1
}
unit_named_ok() {
    list_port "$PORT_UNIT" "$work/list-unit.json" || return 1
    cat "$work/list-unit.json"
    grep -Eq '"unit": *"porteye-e2e-web.service"' "$work/list-unit.json" &&
        grep -Eq '"process": *"socat"' "$work/list-unit.json"
}
check "porteyectl list --json --port $PORT_UNIT names unit porteye-e2e-web.service" unit_named_ok
check "porteyectl list --unit porteye-e2e-web.service finds it" \
    list_port "$PORT_UNIT" "$work/list-unit-filter.json" --unit porteye-e2e-web.service
activation_socket_ok() {
    list_port "$PORT_ACTIVATED" "$work/list-act.json" || return 1
    cat "$work/list-act.json"
    grep -Eq '"pid": *1,' "$work/list-act.json" && grep -Eq '"unit": *"init.scope"' "$work/list-act.json"
}
check "a .socket unit's listener before its service runs: PID 1, init.scope" activation_socket_ok

# ---- 7c. another network namespace, entered through porteyed-netns.service ----
# porteyed.service has no CAP_SYS_ADMIN: a listener in an `ip netns` namespace is
# listed only because the socket-activated helper made porteyed a sock_diag socket there.
in_ct ip netns add porteye-e2e
in_ct systemd-run --quiet --unit=porteye-e2e-ns ip netns exec porteye-e2e \
    sh -c "ip link set lo up; exec socat TCP-LISTEN:$PORT_NETNS,fork,reuseaddr /dev/null"
netns_listener_ok() {
    list_port "$PORT_NETNS" "$work/list-netns.json" || return 1
    cat "$work/list-netns.json"
    grep -Eq '"netns_name": *"porteye-e2e"' "$work/list-netns.json" &&
        in_ct porteyectl status --json | grep -Eq '"network_namespaces": *"all \(helper'
}
check "a listener in ip netns porteye-e2e is listed with its namespace, through the helper" netns_listener_ok
in_ct systemctl stop porteye-e2e-ns.service || true
in_ct systemctl stop porteye-e2e-web.service porteye-e2e-act.socket || true

# ---- 7d. the Cockpit page (cockpit-porteye), in a real Cockpit and Chromium ----
# Cockpit's own login page, shell and bridge run in the container; headless Debian Chromium runs
# on the host in the container's network namespace, driven by tests/web/cockpit.mjs (playwright-core
# from tests/web/package-lock.json). Users made here log in: pe-user sees its own sockets, live,
# and never root's; pe-admin (group sudo) with administrative access sees the host.
web_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)
cockpit_screenshot=${PORTEYE_E2E_SCREENSHOT:-$work/cockpit.png}
check "dpkg -i $(basename "$cockpit_deb") (beside porteye)" in_ct dpkg -i "/opt/payload/$(basename "$cockpit_deb")"
check "cockpit-bridge --packages lists porteye (menu label PortEye) in /usr/share/cockpit/porteye" \
    sh -c "nsenter -t $container_pid -a cockpit-bridge --packages | grep -E '^porteye +PortEye +/usr/share/cockpit/porteye\$'"
pe_password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
check "useradd pe-user, pe-admin (group sudo), passwords set" in_ct sh -ec "
    useradd -m -s /bin/bash pe-user
    useradd -m -s /bin/bash -G sudo pe-admin
    printf 'pe-user:%s\npe-admin:%s\n' '$pe_password' '$pe_password' | chpasswd"
check "systemctl start cockpit.socket" in_ct systemctl start cockpit.socket
in_ct sh -c "nohup socat TCP-LISTEN:$PORT_COCKPIT_ROOT,fork,reuseaddr /dev/null >/dev/null 2>&1 </dev/null &"
browser_missing=""
for tool in node /usr/bin/chromium; do
    command -v "$tool" >/dev/null || browser_missing="$tool is not installed (packaging/install-deps.sh installs it)"
done
if [[ -z $browser_missing && ! -f $web_dir/node_modules/playwright-core/package.json ]]; then
    npm ci --prefix "$web_dir" --no-audit --no-fund >"$work/npm.log" 2>&1 ||
        browser_missing="npm ci --prefix tests/web failed (no registry here?): $(tail -n 1 "$work/npm.log")"
fi
if [[ -n $browser_missing ]]; then
    log "SKIP: the Cockpit page in Chromium: $browser_missing"
else
    cockpit_rc=0
    PE_PASSWORD=$pe_password ROOT_PORT=$PORT_COCKPIT_ROOT nsenter -t "$container_pid" -n -- \
        node "$web_dir/cockpit.mjs" http://127.0.0.1:9090 "$container_pid" "$cockpit_screenshot" \
        >"$work/cockpit.log" 2>&1 || cockpit_rc=$?
    cockpit_checks=0
    while IFS= read -r line; do
        case $line in
        "PASS: "*) pass "${line#PASS: }" && cockpit_checks=$((cockpit_checks + 1)) ;;
        "FAIL: "*) fail "${line#FAIL: }" && cockpit_checks=$((cockpit_checks + 1)) ;;
        "    | "*) printf '%s\n' "$line" ;;
        "cockpit: "*) log "$line" ;;
        esac
    done <"$work/cockpit.log"
    if ((cockpit_rc != 0 && cockpit_checks == 0)) || ((cockpit_rc == 0 && cockpit_checks == 0)); then
        fail "tests/web/cockpit.mjs ran its checks (exit $cockpit_rc)" "$work/cockpit.log"
    fi
    log "Cockpit screenshot: $cockpit_screenshot"
fi
cockpit_removal_ok() {
    in_ct dpkg -r cockpit-porteye || return 1
    ! in_ct test -e /usr/share/cockpit/porteye
}
check "dpkg -r cockpit-porteye removes the page" cockpit_removal_ok

# ---- 8. the journal and the watchdog ----------------------------------------
journal_ok() {
    in_ct journalctl -u porteyed.service --no-pager -o cat >"$work/journal.log" 2>&1
    cat "$work/journal.log"
    [[ $(grep -c . "$work/journal.log") -gt 0 ]]
}
check "journalctl -u porteyed has lines" journal_ok

# systemd warns about unknown or unsupported settings at load and at start.
unit_warnings_ok() {
    # (porteye-e2e-*: the test's own socat units, stopped by SIGTERM, which socat reports as a failure)
    in_ct journalctl -b --no-pager -o cat -p warning | grep -i 'porteye' | grep -v 'porteye-e2e-' |
        grep -v 'triggering units are still active' &&
        return 1
    return 0
}
check "no systemd warnings about the porteye units" unit_warnings_ok

exposure_ok() {
    local score
    in_ct systemd-analyze security --no-pager porteyed.service >"$work/security.log" 2>&1 || true
    score=$(sed -n 's/.*Overall exposure level for porteyed.service: \([0-9.]*\).*/\1/p' "$work/security.log")
    grep -v '^✓' "$work/security.log"
    [[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }'
}
check "systemd-analyze security porteyed.service: exposure <= 1.5" exposure_ok

watchdog_usec=$(in_ct systemctl show -p WatchdogUSec --value porteyed.service)
check "WatchdogSec is set ($watchdog_usec)" test -n "$watchdog_usec" -a "$watchdog_usec" != 0 -a "$watchdog_usec" != infinity
wd_usec=$(in_ct busctl --system get-property org.freedesktop.systemd1 \
    /org/freedesktop/systemd1/unit/porteyed_2eservice org.freedesktop.systemd1.Service WatchdogUSec |
    awk '{print $2}')
wd_seconds=$((${wd_usec:-20000000} / 1000000))
elapsed=$(($(date +%s) - started_at))
if ((elapsed <= wd_seconds + 2)); then
    log "waiting $((wd_seconds + 3 - elapsed)) s so that more than WatchdogSec (${wd_seconds}s) has passed"
    sleep $((wd_seconds + 3 - elapsed))
fi
watchdog_ok() {
    local restarts pid
    restarts=$(in_ct systemctl show -p NRestarts --value porteyed.service)
    pid=$(in_ct systemctl show -p MainPID --value porteyed.service)
    echo "NRestarts=$restarts MainPID=$pid (was $main_pid)"
    [[ $restarts == 0 && $pid == "$main_pid" ]] && in_ct systemctl is-active --quiet porteyed.service
}
check "watchdog keeps it alive > WatchdogSec (NRestarts=0, same PID)" watchdog_ok

# ---- 8b. Prometheus /metrics: a Unix socket needs nothing, TCP the drop-in ---
# (After the watchdog check: each step restarts porteyed.)
# metrics_get ADDRESS: one GET /metrics through socat (no curl in the root).
metrics_get() {
    in_ct sh -c "printf 'GET /metrics HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n' | socat -t 5 - $1"
}
metrics_has_listener() {
    # A listener porteyed sees in its own unit (socat of section 7 on PORT_WATCH), and never a pid label.
    grep -q "^HTTP/1.1 200 OK" "$1" && grep -q "^porteye_listening_socket_info{.*port=\"$PORT_WATCH\"" "$1" &&
        ! grep -q 'pid=' "$1"
}
metrics_unix_ok() {
    in_ct sh -c 'echo "metrics_listen = \"/run/porteye/metrics.sock\"" >>/etc/porteye/porteyed.conf' || return 1
    in_ct systemctl restart porteyed.service || return 1
    metrics_get UNIX-CONNECT:/run/porteye/metrics.sock >"$work/metrics-unix.txt" 2>&1
    head -n 20 "$work/metrics-unix.txt"
    in_ct stat -c '%a %U:%G %n' /run/porteye/metrics.sock
    metrics_has_listener "$work/metrics-unix.txt" &&
        [[ $(in_ct stat -c '%a %U:%G' /run/porteye/metrics.sock) == "660 porteye:porteye" ]]
}
check "metrics_listen = /run/porteye/metrics.sock: /metrics on the hardened unit as it ships" metrics_unix_ok
metrics_tcp_ok() {
    in_ct sed -i "s|^metrics_listen = .*|metrics_listen = \"127.0.0.1:$PORT_METRICS\"|" /etc/porteye/porteyed.conf
    in_ct mkdir -p /etc/systemd/system/porteyed.service.d
    in_ct sh -c 'printf "[Service]\nRestrictAddressFamilies=AF_INET AF_INET6\nIPAddressAllow=localhost\n" \
        >/etc/systemd/system/porteyed.service.d/metrics.conf'
    in_ct systemctl daemon-reload
    in_ct systemctl restart porteyed.service || return 1
    metrics_get "TCP:127.0.0.1:$PORT_METRICS" >"$work/metrics-tcp.txt" 2>&1
    head -n 5 "$work/metrics-tcp.txt"
    metrics_has_listener "$work/metrics-tcp.txt"
}
check "metrics_listen = 127.0.0.1:$PORT_METRICS with the drop-in of docs/deployment.md" metrics_tcp_ok
# Back to the unit and configuration as shipped.
in_ct rm -rf /etc/systemd/system/porteyed.service.d
in_ct sed -i '/^metrics_listen = /d' /etc/porteye/porteyed.conf
in_ct systemctl daemon-reload
in_ct systemctl restart porteyed.service

# ---- 9. the history survives systemctl restart (StateDirectory, SQLite) ------
store_status_ok() {
    in_ct porteyectl status --json | tee "$work/status.json"
    grep -Eq '"store": *"ok"' "$work/status.json"
}
check "porteyectl status: history store ok in /var/lib/porteye" store_status_ok
history_count() {
    in_ct porteyectl history --port "$PORT_WATCH" --limit 0 --json 2>/dev/null | grep -o '"sequence"' | wc -l
}
events_before=$(history_count)
restart_keeps_history_ok() {
    in_ct systemctl restart porteyed.service || return 1
    local after
    after=$(history_count)
    echo "events of port $PORT_WATCH before restart: $events_before, after: $after"
    [[ $events_before -ge 2 && $after -ge $events_before ]] && in_ct test -s /var/lib/porteye/history.db
}
check "systemctl restart porteyed keeps the history of port $PORT_WATCH" restart_keeps_history_ok

# ---- 10. stop, activation, removal ------------------------------------------
stop_ok() {
    in_ct systemctl stop porteyed.service || return 1
    local result state
    result=$(in_ct systemctl show -p Result --value porteyed.service)
    state=$(in_ct systemctl show -p ActiveState --value porteyed.service)
    echo "Result=$result ActiveState=$state"
    [[ $result == success && $state == inactive ]]
}
check "systemctl stop porteyed: Result=success" stop_ok

socket_activation_ok() {
    as_nobody porteyectl --socket status || return 1
    in_ct systemctl is-active --quiet porteyed.service
}
check "a client on the control socket starts porteyed (socket activation)" socket_activation_ok

bus_activation_ok() {
    in_ct systemctl stop porteyed.socket porteyed.service || return 1
    in_ct busctl --system call org.porteye.PortEye1 /org/porteye/PortEye1 org.porteye.PortEye1 \
        ListPorts 'a{sv}' 0 >/dev/null || return 1
    in_ct systemctl is-active --quiet porteyed.service
}
check "a D-Bus call starts porteyed (bus activation)" bus_activation_ok

removal_ok() {
    in_ct systemctl start porteyed.socket porteyed.service || return 1
    in_ct dpkg -r porteye || return 1
    local service socket
    service=$(in_ct systemctl is-active porteyed.service || true)
    socket=$(in_ct systemctl is-active porteyed.socket || true)
    echo "porteyed.service: $service, porteyed.socket: $socket"
    [[ $service != active && $socket != active ]] || return 1
    ! in_ct pgrep -x porteyed
}
check "dpkg -r porteye stops the service and its socket" removal_ok

summary
((failed == 0))
