#!/usr/bin/env python3
"""Rewrites a benchmark.json written before cvpbench's strict file reporter existed, by that
reporter's rule: a counter whose value is NaN or Infinity is left out of its row; nothing else
changes (Google Benchmark writes one key per line, so only those lines go, and the comma before
a removed last key). It is how the 16-core runs here, which could not be measured again, became
strict JSON. The result is checked to parse strictly and to equal the original without those
values.

    python3 tools/strict_json.py results/intel-xeon-16core/benchmark.json
"""

import json
import math
import os
import re
import sys
import tempfile

NON_FINITE_LINE = re.compile(r'^\s*"[^"]*": -?(NaN|Infinity),?\s*$')


def _refuse(token):
    raise ValueError(f"not strict JSON: {token}")


def strict_text(text):
    kept = []
    for line in text.splitlines():
        if NON_FINITE_LINE.match(line):
            if not line.rstrip().endswith(",") and kept:
                kept[-1] = kept[-1].rstrip().rstrip(",")
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def _without_non_finite(node):
    if isinstance(node, dict):
        return {k: _without_non_finite(v) for k, v in node.items()
                if not (isinstance(v, float) and not math.isfinite(v))}
    if isinstance(node, list):
        return [_without_non_finite(v) for v in node]
    return node


def main(paths):
    for path in paths:
        with open(path) as f:
            text = f.read()
        new = strict_text(text)
        if json.loads(new, parse_constant=_refuse) != _without_non_finite(json.loads(text)):
            print(f"{path}: the rewrite would change more than the non-finite values", file=sys.stderr)
            return 1
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".strict-")
        with os.fdopen(fd, "w") as f:
            f.write(new)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
