#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what PortEye needs to build, test and run on Debian 12 (bookworm).
# Used by the README's commands and by CI, so a fresh machine gets everything.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config clang-format
  libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libcli11-dev libsqlite3-dev libcpp-httplib-dev
  # the eBPF kernel event source (optional: without them PORTEYE_BPF is OFF and porteyed polls)
  clang llvm libbpf-dev bpftool
  # coverage-guided fuzzing with libFuzzer (clang's -fsanitize=fuzzer needs its runtime)
  libclang-rt-14-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  dbus-daemon dbus-bin libglib2.0-bin socat iproute2 util-linux procps lsof passwd curl python3 python3-psutil
  python3-prometheus-client ca-certificates
  # the web page's browser test: Debian's Chromium, driven by playwright-core from npm
  chromium
  # packaging and the end-to-end test on a real systemd
  systemd-container debootstrap fakeroot dpkg-dev lintian file
)

# Node.js and npm for that browser test: Debian's, unless the machine already has an npm (a
# third-party nodejs build bundles its own npm, and Debian's npm package conflicts with it).
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
