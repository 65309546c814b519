#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the libFuzzer targets of tests/fuzz (built with -DPORTEYE_FUZZ=ON, see README "Fuzzing").
#
#   tests/fuzz/run.sh [--build DIR] [--time SECONDS | --runs N] [TARGET...]
#       fuzz each target (all by default) for SECONDS (-max_total_time) or N executions (-runs),
#       starting from its seed corpus tests/fuzz/corpus/TARGET; new units go to
#       DIR/fuzz-work/TARGET (the seed corpus is never written). Prints per target: executions,
#       exec/s, coverage (cov, ft from libFuzzer's last status line), new units, crashes.
#   tests/fuzz/run.sh [--build DIR] --replay [TARGET...]
#       runs every input of each seed corpus once (crash regression: an input that once crashed
#       is kept there and must not crash again).
# Exits non-zero when a target crashed (its input is written to DIR/fuzz-work/crash-TARGET-*).
# Runs under `nice -n 10`. fuzz-netns-helper and fuzz-control-server need root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$here/../../build-fuzz
mode=time
amount=60
targets=()
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    --time) mode=time amount=$2; shift 2 ;;
    --runs) mode=runs amount=$2; shift 2 ;;
    --replay) mode=replay; shift ;;
    -h|--help) sed -n '3,16p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then
  for f in "$here"/fuzz-*.cpp; do t=${f##*/fuzz-}; targets+=("${t%.cpp}"); done
fi

dictionary() {
  case $1 in
    control-server|request-options-json) echo "$here/jsonrpc.dict" ;;
    *) [[ -f $here/$1.dict ]] && echo "$here/$1.dict" ;;
  esac
  return 0
}

work=$build/fuzz-work
mkdir -p "$work"
failed=0
printf '%-22s %12s %9s %7s %7s %6s %8s %7s\n' target execs exec/s cov ft new seconds crashes
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz-$t
  [[ -x $bin ]] || { echo "$bin is not built (cmake --build $build --target porteye_fuzzers)" >&2; exit 2; }
  seeds=$here/corpus/$t
  args=(-print_final_stats=1 -artifact_prefix="$work/crash-$t-")
  dict=$(dictionary "$t")
  [[ -n $dict ]] && args+=(-dict="$dict")
  log=$work/$t.log
  start=$(date +%s)
  set +e
  if [[ $mode == replay ]]; then
    nice -n 10 "$bin" "${args[@]}" -runs=0 "$seeds" >"$log" 2>&1
  else
    mkdir -p "$work/$t"
    limit=(-max_total_time="$amount")
    [[ $mode == runs ]] && limit=(-runs="$amount")
    nice -n 10 "$bin" "${args[@]}" "${limit[@]}" "$work/$t" "$seeds" >"$log" 2>&1
  fi
  rc=$?
  set -e
  seconds=$(($(date +%s) - start))
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  crashes=0
  if ((rc != 0)); then
    crashes=1
    failed=1
    echo "fuzz-$t exited $rc; its log: $log" >&2
    grep -E 'ERROR: |SUMMARY: |runtime error|fuzz-[a-z-]*: ' "$log" | head -5 >&2 || true
  fi
  printf '%-22s %12s %9s %7s %7s %6s %8s %7s\n' "$t" "$(stat number_of_executed_units)" \
    "$(stat average_exec_per_sec)" "${cov:--}" "${ft:--}" "$(stat new_units_added)" "$seconds" "$crashes"
done
exit $failed
