#!/usr/bin/env bash
# Runs every test: the C++ suite (release build), the execution layer under ThreadSanitizer,
# everything under AddressSanitizer + UndefinedBehaviorSanitizer, the cvpbench program built as
# on a platform without CPU affinity (noaffinity preset, when CVP_NOAFFINITY=1), and the Python tests (scripts and
# end-to-end runs of the cvpbench program, normal and noaffinity builds), after a bounded run of
# the fuzz targets when CVP_FUZZ_SECONDS is set (scripts/fuzz.sh); and the installed package, with examples/ built out of tree
# against it and run by the end-to-end tests.
#   bash scripts/test.sh              all of it
#   bash scripts/test.sh --fast       release build only, no sanitizers
#   CVP_NOAFFINITY=1 CVP_FUZZ_SECONDS=30 bash scripts/test.sh    also the noaffinity build and fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
[ "${1:-}" = "--fast" ] && fast=1
jobs="$(nproc 2>/dev/null || echo 2)"

bash scripts/setup-deps.sh --test
. scripts/python-env.sh

step() { printf '\n==== %s\n' "$*"; }

step "release build and C++ tests"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

if [ "$fast" = 0 ]; then
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

  # Fuzzing builds the library once more (clang): opt in with CVP_FUZZ_SECONDS, or run
  # bash scripts/fuzz.sh SECONDS on its own, so that the whole run stays within CI's 30 minutes.
  if [ "${CVP_FUZZ_SECONDS:-0}" -gt 0 ]; then
    step "fuzzing: the command line and the filter patterns (libFuzzer, ${CVP_FUZZ_SECONDS} s each)"
    bash scripts/fuzz.sh "${CVP_FUZZ_SECONDS}"
  fi

  # A fourth build of the library, as on a platform without CPU affinity: opt in with
  # CVP_NOAFFINITY=1 (its end-to-end tests skip without it), so that CI stays within 30 minutes.
  if [ "${CVP_NOAFFINITY:-0}" = 1 ]; then
    step "no CPU affinity (as on macOS): the cvpbench program only"
    cmake --preset noaffinity >/dev/null
    cmake --build --preset noaffinity -j "$jobs" --target cvpbench_program
    export CVPBENCH_NOAFFINITY_BIN="$PWD/build/noaffinity/benchmarks/cvpbench"
  fi
fi

step "the installed package: examples/ built out of tree against it"
rm -rf build/install build/examples
cmake --install build/release --prefix "$PWD/build/install" >/dev/null
cmake -S examples -B build/examples -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/examples -j "$jobs"
export CVPBENCH_EXAMPLES_DIR="$PWD/build/examples"

step "Python tests ($PYTHON)"
# setup-deps.sh --test installed PostgreSQL, cmark-gfm, shellcheck and actionlint: their tests
# must run, not skip.
CVP_REQUIRE_POSTGRES=1 CVP_REQUIRE_TEST_TOOLS=1 CVPBENCH_BIN="$PWD/build/release/benchmarks/cvpbench" \
  "$PYTHON" -m pytest -q -p no:cacheprovider tests/python tests/e2e
