#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs dependencies, builds, and runs porteyed in the foreground: on the
# system bus when one runs (installing the bus policy there), otherwise on a
# private bus with system-bus rules that this script starts itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packaging/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target porteyed porteyectl

sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
daemon_args=(--interval "${PORTEYE_INTERVAL:-1.0}")

if busctl --system status >/dev/null 2>&1; then
  # A real system bus: it only lets root own our name once the policy is installed.
  $sudo install -m 0644 dbus/org.porteye.PortEye1.conf /etc/dbus-1/system.d/org.porteye.PortEye1.conf
  $sudo busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig >/dev/null
  bus_flag="--system"
  echo "porteyed: serving on the system bus"
else
  dir=$(mktemp -d /tmp/porteye-bus.XXXXXX)
  mkdir -p "$dir/system.d"
  cp dbus/org.porteye.PortEye1.conf "$dir/system.d/"
  sed -e "s|<listen>[^<]*</listen>|<listen>unix:path=$dir/bus</listen>|" \
      -e 's|<servicedir>[^<]*</servicedir>||; s|<pidfile>[^<]*</pidfile>||; s|<user>[^<]*</user>||' \
      -e 's|<includedir>[^<]*</includedir>||g; s|<standard_system_servicedirs */>||; s|<syslog */>||' \
      -e 's|<servicehelper>[^<]*</servicehelper>||' \
      -e "s|</busconfig>|<includedir>$dir/system.d</includedir></busconfig>|" \
      /usr/share/dbus-1/system.conf >"$dir/system.conf"
  chmod 755 "$dir"
  read -r address pid < <(dbus-daemon --config-file="$dir/system.conf" --fork --print-address=1 --print-pid=1 | paste -sd' ')
  trap 'kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
  export DBUS_SYSTEM_BUS_ADDRESS="$address"
  bus_flag="--address=$address"
  echo "porteyed: no system bus here; started a private one at $address"
fi

socket="${PORTEYE_SOCKET:-/run/porteye/porteyed.sock}"
cat <<EOT
Try, in another terminal$( [[ $bus_flag == --system ]] || echo " (export DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS first)"):
  busctl $bus_flag monitor org.porteye.PortEye1
  busctl $bus_flag call org.porteye.PortEye1 /org/porteye/PortEye1 org.porteye.PortEye1 ListPorts a{sv} 1 state s LISTEN
  busctl $bus_flag call org.porteye.PortEye1 /org/porteye/PortEye1 org.porteye.PortEye1 GetHistory a{sv} 1 limit u 10
  $root/build/client/porteyectl list --listening
  $root/build/client/porteyectl watch <PID> --interval 0.5
  echo '{"jsonrpc":"2.0","id":1,"method":"status"}' | socat - UNIX-CONNECT:$socket
Ctrl+C stops porteyed.
EOT
env_args=()
[[ -n "${DBUS_SYSTEM_BUS_ADDRESS:-}" ]] && env_args=(DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS")
$sudo env "${env_args[@]}" build/daemon/porteyed "${daemon_args[@]}" --socket "$socket"
