# Sourced by the other scripts: sets PYTHON to an interpreter that has numpy, scipy and
# matplotlib (the system's python3 first: a python3 earlier on PATH may not see them).
PYTHON=""
for candidate in "${CVP_PYTHON:-}" /usr/bin/python3 python3; do
  [ -n "$candidate" ] || continue
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import numpy, scipy, matplotlib' >/dev/null 2>&1; then
    PYTHON="$candidate"
    break
  fi
done
if [ -z "$PYTHON" ]; then
  echo "no Python 3 with numpy, scipy and matplotlib found; run bash scripts/setup-deps.sh" >&2
  return 1 2>/dev/null || exit 1
fi
export PYTHON
