#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The one command that runs every test: installs dependencies, builds with
# warnings as errors, runs all CTest tests (unit, integration, D-Bus, control
# socket, web), the end-to-end test on systemd on the finished tree, then the
# test binaries again under AddressSanitizer + UndefinedBehaviorSanitizer, and
# the threaded in-process monitor and the history store under ThreadSanitizer.
# No test is retried: a test that fails once is a failure (a flaky test is a bug).
#   PORTEYE_SKIP_E2E=1         skip the systemd-nspawn end-to-end test
#   PORTEYE_SKIP_SANITIZERS=1  skip the sanitizer stages
#   PORTEYE_SKIP_FUZZ=1        skip the libFuzzer stages (tests/fuzz)
# Each stage prints its wall time when it ends, and a table of all of them closes the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

timings=()
# stage NAME COMMAND...: runs one step of the suite and records how long it took.
stage() {
    local name=$1 start=$SECONDS
    shift
    echo "==> stage $name"
    "$@"
    local took=$((SECONDS - start))
    timings+=("$(printf '%-22s %5d s' "$name" "$took")")
    echo "==> stage $name: ${took} s"
}
report() {
    echo "==> stage timings (wall clock, $jobs cores)"
    printf '    %s\n' "${timings[@]}"
}
trap report EXIT

deps() {
    packaging/install-deps.sh
    # playwright-core for the browser test of `porteyectl web`, pinned by tests/web/package-lock.json.
    npm ci --prefix tests/web --no-audit --no-fund >/dev/null
}

# The committed .clang-format is the style; a file that drifts fails here.
format() {
    find daemon client dbus tests \( -name '*.cpp' -o -name '*.hpp' \) -print0 | xargs -0 clang-format --dry-run --Werror
}

build_plain() {
    cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTEYE_WERROR=ON >/dev/null
    cmake --build build-test -j"$jobs"
}

ctest_plain() {
    (cd build-test && ctest --output-on-failure -j"$jobs" --timeout 600 -LE e2e)
}

# After every other test of the tree: cpack packages the finished build-test, nothing rebuilds it.
e2e() {
    (cd build-test && ctest --output-on-failure --timeout 900 -L e2e)
}

# The sanitizer trees build the test binaries and what they run (porteyed, porteyectl, the
# netns helper), not the benchmarks nor the bounds tests (PORTEYE_SANITIZE leaves both out).
build_asan() {
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPORTEYE_WERROR=ON \
        -DPORTEYE_SANITIZE=address,undefined -DPORTEYE_BUILD_BENCHMARKS=OFF >/dev/null
    cmake --build build-asan -j"$jobs"
}

ctest_asan() {
    (
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0"
        # Not e2e (packaging); not web's headless-browser run (what it adds over the REST and SSE
        # tests is Chromium and JavaScript, which neither sanitizer sees).
        cd build-asan && ctest --output-on-failure -j"$jobs" --timeout 600 -LE e2e \
            -E 'PageInHeadlessChromium'
    )
}

# The components with threads, ThreadedMonitor and the history store's writer: ThreadSanitizer checks them.
tsan() {
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DPORTEYE_WERROR=ON \
        -DPORTEYE_SANITIZE=thread -DPORTEYE_BUILD_BENCHMARKS=OFF >/dev/null
    cmake --build build-tsan -j"$jobs" --target porteye_integration_tests porteye_store_tests
    TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/porteye_integration_tests --gtest_filter='ThreadedMonitor.*'
    TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/porteye_store_tests
}

# Coverage-guided fuzzing (tests/fuzz, clang + libFuzzer + ASan/UBSan, a tree of its own): every
# input of the seed corpora once (a crash found once stays found), then 15 s of each target.
build_fuzz() {
    cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DPORTEYE_FUZZ=ON \
        -DPORTEYE_WERROR=ON >/dev/null
    cmake --build build-fuzz -j"$jobs" --target porteye_fuzzers
}
fuzz() {
    tests/fuzz/run.sh --build build-fuzz --replay
    tests/fuzz/run.sh --build build-fuzz --time 15
}

stage deps deps
stage format format
stage build-plain build_plain
stage ctest-plain ctest_plain
if [[ "${PORTEYE_SKIP_E2E:-0}" != 1 ]]; then
    stage e2e e2e
fi
if [[ "${PORTEYE_SKIP_SANITIZERS:-0}" != 1 ]]; then
    stage build-asan build_asan
    stage ctest-asan ctest_asan
    stage tsan tsan
fi
if [[ "${PORTEYE_SKIP_FUZZ:-0}" != 1 ]]; then
    stage build-fuzz build_fuzz
    stage fuzz fuzz
fi
