#!/usr/bin/env bash
# Runs every test: the C++ suite (release build), the installed package with examples/ built out
# of tree against it, the execution layer under ThreadSanitizer, everything under
# AddressSanitizer + UndefinedBehaviorSanitizer, the Python tests of the scripts (tests/python),
# and the end-to-end runs of the cvpbench program and the examples (tests/e2e). Opt-in: the
# cvpbench program built as on a platform without CPU affinity (CVP_NOAFFINITY=1, whose
# end-to-end tests skip without it) and a bounded run of the fuzz targets (CVP_FUZZ_SECONDS,
# scripts/fuzz.sh).
#   bash scripts/test.sh              all of it
#   bash scripts/test.sh --fast       release build, examples and the Python tests; no sanitizers
#   CVP_NOAFFINITY=1 CVP_FUZZ_SECONDS=30 bash scripts/test.sh    also the noaffinity build and fuzzing
#
# The sanitizer builds use both CPUs for most of the run, while the Python tests of the scripts
# use one and measure nothing: they run side by side, the sanitizers' output kept in
# build/sanitizers.log and printed after. The end-to-end tests measure speedups, so they run
# last, alone.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
[ "${1:-}" = "--fast" ] && fast=1
jobs="$(nproc 2>/dev/null || echo 2)"
fuzz_seconds="${CVP_FUZZ_SECONDS:-0}"

if [ "$fuzz_seconds" -gt 0 ]; then
  bash scripts/setup-deps.sh --test --fuzz
else
  bash scripts/setup-deps.sh --test
fi
. scripts/python-env.sh

step() { printf '\n==== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "release build and C++ tests"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

step "the installed package: examples/ built out of tree against it"
rm -rf build/install build/examples
cmake --install build/release --prefix "$PWD/build/install" >/dev/null
cmake -S examples -B build/examples -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/examples -j "$jobs"
export CVPBENCH_EXAMPLES_DIR="$PWD/build/examples"
export CVPBENCH_BIN="$PWD/build/release/benchmarks/cvpbench"

sanitizers() {
  step "ThreadSanitizer: the execution layer"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$jobs" --target test_executors test_request_runner
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
    ctest --preset tsan -j "$jobs"

  step "AddressSanitizer + UndefinedBehaviorSanitizer: everything"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs"
  ASAN_OPTIONS="detect_leaks=1" LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --preset asan -j "$jobs" -E "LimitsMeasurement"  # measured in the release run above
}

# setup-deps.sh --test installed PostgreSQL, cmark-gfm, shellcheck and actionlint, and setup-deps.sh
# installed Open MPI: their tests must run, not skip.
export CVP_REQUIRE_POSTGRES=1 CVP_REQUIRE_TEST_TOOLS=1 CVP_REQUIRE_MPI=1
# The Python tests of the scripts on half the CPUs where there are 4 or more (pytest-xdist; they
# pass spread over 2 workers, 355 s against 512 s on one here); on fewer, one process, beside
# the sanitizer builds.
script_tests=(-q -p no:cacheprovider)
if [ "$jobs" -ge 4 ] && "$PYTHON" -c 'import xdist' >/dev/null 2>&1; then
  script_tests+=(-n "$((jobs / 2))")
fi
failed=0
if [ "$fast" = 0 ]; then
  mkdir -p build
  sanitizers > build/sanitizers.log 2>&1 &
  sanitizers_pid=$!
  step "Python tests of the scripts ($PYTHON), beside the sanitizer builds"
  "$PYTHON" -m pytest "${script_tests[@]}" tests/python || failed=1
  sanitizers_ok=1
  wait "$sanitizers_pid" || sanitizers_ok=0
  step "the sanitizers' output (build/sanitizers.log)"
  cat build/sanitizers.log
  if [ "$sanitizers_ok" = 0 ]; then
    echo "test.sh: the sanitizer builds or their tests failed (above)" >&2
    exit 1
  fi
  [ "$failed" = 0 ] || { echo "test.sh: the Python tests of the scripts failed (above)" >&2; exit 1; }

  # Fuzzing builds the library once more (clang): opt in with CVP_FUZZ_SECONDS, or run
  # bash scripts/fuzz.sh SECONDS on its own, so that the whole run stays within CI's 30 minutes.
  if [ "$fuzz_seconds" -gt 0 ]; then
    step "fuzzing: the command line and the filter patterns (libFuzzer, ${fuzz_seconds} s each)"
    bash scripts/fuzz.sh "$fuzz_seconds"
  fi

  # A fourth build of the library, as on a platform without CPU affinity: opt in with
  # CVP_NOAFFINITY=1 (its end-to-end tests skip without it), so that CI stays within 30 minutes.
  if [ "${CVP_NOAFFINITY:-0}" = 1 ]; then
    step "no CPU affinity (as on macOS): the cvpbench program only"
    cmake --preset noaffinity >/dev/null
    cmake --build --preset noaffinity -j "$jobs" --target cvpbench_program
    export CVPBENCH_NOAFFINITY_BIN="$PWD/build/noaffinity/benchmarks/cvpbench"
  fi
else
  step "Python tests of the scripts ($PYTHON)"
  "$PYTHON" -m pytest "${script_tests[@]}" tests/python
fi

step "end-to-end tests ($PYTHON): the cvpbench program and the examples, on a quiet machine"
"$PYTHON" -m pytest -q -p no:cacheprovider tests/e2e
