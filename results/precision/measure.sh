#!/usr/bin/env bash
# Runs a program's quick suite N times into OUT/LABEL-1 ... OUT/LABEL-N, one after another,
# for tools/precision_table.py (CI half-widths per run, coefficient of variation across runs).
#
#   bash results/precision/measure.sh PROGRAM LABEL N OUT [cvpbench options...]
set -euo pipefail
if [ "$#" -lt 4 ]; then
  echo "usage: measure.sh PROGRAM LABEL N OUT [cvpbench options...]" >&2
  exit 2
fi
program=$1 label=$2 n=$3 out=$4
shift 4
mkdir -p "$out"
for i in $(seq 1 "$n"); do
  start=$(date +%s.%N)
  "$program" --out "$out/$label-$i" "$@" > "$out/$label-$i.txt" 2> "$out/$label-$i.err"
  end=$(date +%s.%N)
  printf '%s-%s %.1f s\n' "$label" "$i" "$(echo "$end - $start" | bc)"
done
