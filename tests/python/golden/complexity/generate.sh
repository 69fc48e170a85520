#!/usr/bin/env bash
# Regenerates benchmark.json from a real Google Benchmark run with Complexity() rows.
set -euo pipefail
cd "$(dirname "$0")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
g++ -O2 -std=c++17 complexity_bench.cc -o "$work/complexity_bench" -lbenchmark -lpthread
"$work/complexity_bench" --benchmark_min_time=0.01 --benchmark_repetitions=2 \
  --benchmark_out="$work/out.json" --benchmark_out_format=json >/dev/null
# The executable's path is this machine's: keep only its name.
sed -E 's#"executable": "[^"]*/([^"/]*)"#"executable": "\1"#' "$work/out.json" > benchmark.json
