#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang) and runs each for a bounded time over its
# corpus in tests/fuzz/corpus/ (read, never written: new inputs go to a temporary folder).
# A crash, a hang (> 10 s on one input), a sanitizer report or an exception other than a usage
# error fails the run; the input that caused it is kept in build/fuzz/findings/.
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET]      default 30
#   bash scripts/fuzz.sh --merge SECONDS           also add the new interesting inputs to the corpora
set -euo pipefail
cd "$(dirname "$0")/.."

merge=0
if [ "${1:-}" = "--merge" ]; then merge=1; shift; fi
seconds="${1:-30}"
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: seconds must be a whole number, not '$seconds'" >&2; exit 2 ;; esac

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ is needed (bash scripts/setup-deps.sh --fuzz installs it)" >&2
  exit 2
fi
jobs="$(nproc 2>/dev/null || echo 2)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs" --target fuzz_command_line fuzz_filter

findings="$PWD/build/fuzz/findings"
mkdir -p "$findings"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for target in command_line filter; do
  mkdir -p "$work/$target"
  echo "fuzzing $target for $seconds s"
  if ! (cd "$findings" && "$OLDPWD/build/fuzz/tests/fuzz/fuzz_$target" \
          -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=4096 \
          -print_final_stats=1 "$work/$target" "$OLDPWD/tests/fuzz/corpus/$target" \
          >"$work/$target.log" 2>&1); then
    echo "fuzz.sh: $target found a problem; the input is in $findings:" >&2
    grep -E "ERROR|SUMMARY|==[0-9]+==" "$work/$target.log" | head -20 >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|DONE" "$work/$target.log" | tail -2
  if [ "$merge" = 1 ]; then
    "build/fuzz/tests/fuzz/fuzz_$target" -merge=1 "tests/fuzz/corpus/$target" "$work/$target" \
      >/dev/null 2>&1
  fi
done
exit "$status"
