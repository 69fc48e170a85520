#!/usr/bin/env bash
# Regenerates the figures of results/history/README.md on this machine:
#   1. the machine's run-to-run noise: 8 quick runs of the suite, one after another;
#   2. change-point detection on series with planted 3, 5 and 10% steps at that noise;
#   3. the results database at 100, 1,000 and 10,000 synthetic runs of 100 benchmarks
#      (SQLite, and PostgreSQL when CVP_SCALE_PG_URL names a database made for it).
# Usage: bash results/history/measure.sh WORK_FOLDER   (needs ~2 GB there; takes ~20 minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:?give a work folder}"
mkdir -p "$work"
. scripts/python-env.sh
bin=build/release/benchmarks/cvpbench
out=results/history

for i in 1 2 3 4 5 6 7 8; do
  [ -e "$work/noise/run$i/summary.json" ] || "$bin" --quick --out "$work/noise/run$i" >/dev/null
done
{
  "$PYTHON" tools/changepoint_calibration.py --noise-from "$work"/noise/run*/ --series 100 \
    --list-noise
  for sigma in 0.008 0.016 0.027 0.088; do
    echo
    "$PYTHON" tools/changepoint_calibration.py --noise "$sigma" --series 100
  done
} > "$out/calibration.md"
"$PYTHON" tools/db_scale.py --work "$work/scale" > "$out/scale-sqlite.md"
if [ -n "${CVP_SCALE_PG_URL:-}" ]; then
  "$PYTHON" tools/db_scale.py --work "$work/scale" --db-url "$CVP_SCALE_PG_URL" \
    > "$out/scale-postgresql.md"
fi
