#!/usr/bin/env python3
"""Speedup precision of cvpbench runs: per benchmark, the 95% CI half-width of its speedup
(relative to the speedup) in each run given, and across runs the coefficient of variation of
the speedup itself (run-to-run spread).

    /usr/bin/python3 tools/precision_table.py [--markdown] LABEL=RUN_FOLDER ...

LABELs that repeat (before=r1 before=r2 ...) are one series of runs: its half-widths are shown
as their median over the runs, and its run-to-run coefficient of variation is computed over
them. Serial rows (speedup 1 by definition) are left out; request rows are matched without
their /requests:N segment.
"""

import argparse
import json
import re
import statistics
import sys
from collections import OrderedDict
from pathlib import Path


def load(folder):
    summary = json.loads((Path(folder) / "summary.json").read_text())
    rows = {}
    for r in summary["results"]:
        if r.get("error") or r["mode"] == "serial":
            continue
        s = r["speedup"]
        value, (low, high) = s["value"], s["ci95"]
        if value <= 0:
            continue
        # Request rows carry their request count, which changes with the run's sizing: rows
        # are matched without it (the speedup is per request either way).
        rows[re.sub(r"/requests:\d+", "", r["name"])] = (value, (high - low) / 2 / value)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=FOLDER")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    series = OrderedDict()
    for item in args.runs:
        label, _, folder = item.partition("=")
        if not folder:
            sys.exit(f"precision_table: {item}: give LABEL=FOLDER")
        series.setdefault(label, []).append(load(folder))
    names = []
    for runs in series.values():
        for rows in runs:
            names += [n for n in rows if n not in names]
    head = ["benchmark"]
    for label, runs in series.items():
        head.append(f"{label} CI +-% (median of {len(runs)})")
        if len(runs) > 1:
            head.append(f"{label} speedup CV %")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    summary = {label: ([], []) for label in series}
    for name in names:
        cells = [name]
        for label, runs in series.items():
            present = [rows[name] for rows in runs if name in rows]
            if not present:
                cells += ["-"] + (["-"] if len(runs) > 1 else [])
                continue
            hw = statistics.median(p[1] for p in present)
            summary[label][0].append(hw)
            cells.append(f"{100 * hw:.2f}")
            if len(runs) > 1:
                values = [p[0] for p in present]
                cv = statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else 0
                summary[label][1].append(cv)
                cells.append(f"{100 * cv:.2f}")
        print("| " + " | ".join(cells) + " |")
    print()
    for label, (hws, cvs) in summary.items():
        if not hws:
            continue
        line = (f"{label}: CI half-width median {100 * statistics.median(hws):.2f}%, max "
                f"{100 * max(hws):.2f}%, rows at most 2%: {sum(h <= 0.02 for h in hws)}/{len(hws)},"
                f" at most 5%: {sum(h <= 0.05 for h in hws)}/{len(hws)}")
        if cvs:
            line += (f"; run-to-run CV median {100 * statistics.median(cvs):.2f}%, max "
                     f"{100 * max(cvs):.2f}%, rows at most 2%: {sum(c <= 0.02 for c in cvs)}/{len(cvs)}")
        print(line)


if __name__ == "__main__":
    main()
