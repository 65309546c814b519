#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the README's test command (.ci/run) on a fresh Debian 12 the way CI's fresh machine would:
# in a debootstrap minbase root holding nothing but a clone of this repository's HEAD and
# ../shared. A package that packaging/install-deps.sh forgets fails here, not on a user's machine
# (the development image carries tools a plain Debian 12 lacks, so a green run there proves little).
# As root:  tests/fresh-root.sh [DIR [MINBASE]]
#   DIR      where the root is made (default /var/tmp/porteye-fresh-root; must not exist)
#   MINBASE  an untouched `debootstrap --variant=minbase bookworm` root to copy instead of
#            running debootstrap again
# The end-to-end stage is skipped (PORTEYE_SKIP_E2E=1): it boots its own systemd-nspawn
# container from a root of its own; CI runs it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/var/tmp/porteye-fresh-root}
minbase=${2:-}
[[ $(id -u) -eq 0 ]] || { echo "fresh-root.sh: run as root (debootstrap, mount, chroot)" >&2; exit 2; }
[[ ! -e $dir ]] || { echo "fresh-root.sh: $dir exists; give a new directory" >&2; exit 2; }
[[ -d $repo/../shared ]] || { echo "fresh-root.sh: $repo/../shared is missing" >&2; exit 2; }

if [[ -n $minbase ]]; then
    cp -a "$minbase" "$dir"
else
    debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian
fi
# The host's name resolution, and a CA it was told to trust (an egress proxy's own, for npm).
cp /etc/resolv.conf "$dir/etc/resolv.conf"
mkdir -p "$dir/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/" 2>/dev/null || true
mkdir -p "$dir/ci"
git clone -q "$repo" "$dir/ci/porteye"
cp -a "$repo/../shared" "$dir/ci/shared"

start=$SECONDS
rc=0
# In a mount namespace of its own (every mount below ends with it), the root pivoted, not
# chrooted: the namespace tests remount / (a bare directory as root refuses that) and an
# unprivileged `unshare -r` is refused to a chrooted process.
unshare --mount --propagation private --fork -- bash -euc '
    dir=$1
    mount --bind "$dir" "$dir"
    mount -t proc proc "$dir/proc"
    mount --rbind /sys "$dir/sys"
    mount --rbind /dev "$dir/dev"
    mount -t tmpfs tmpfs "$dir/run"
    mount -t tmpfs tmpfs "$dir/tmp"
    cd "$dir"
    mkdir -p .host
    pivot_root . .host
    umount -l /.host
    cd /ci/porteye
    exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 PORTEYE_SKIP_E2E=1 NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
        bash .ci/run
' fresh-root "$dir" || rc=$?
echo "fresh-root.sh: .ci/run in $dir: exit $rc after $((SECONDS - start)) s"
exit $rc
