#!/usr/bin/env python3
"""Runs cvpbench beside a chosen load and reports what the run did with its budget.

    tools/under_load.py BINARY OUT_DIR [--suite quick|default] [--conditions none,loops2,loops4,compile]
                  [-- EXTRA CVPBENCH ARGUMENTS]

For each condition it starts the load (busy loops `sh -c 'while :; do :; done'`, or a parallel
compile of this repository, restarted whenever it ends), waits two seconds, runs the suite into
OUT_DIR/<suite>-<condition>/, stops the load, and records: the wall time against the budget, how
many speedups reached the precision target, how many points ended short of their minimum, and,
among the rows whose CI lies below their bound, how many name other processes as the cause.
The table goes to stdout as Markdown and to OUT_DIR/<suite>.json.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_load(condition, scratch):
    """The processes of a condition, each in a process group of its own."""
    if condition == "none":
        return []
    if condition.startswith("loops"):
        count = int(condition[len("loops"):])
        return [subprocess.Popen(["sh", "-c", "while :; do :; done"], start_new_session=True)
                for _ in range(count)]
    if condition == "compile":
        build = Path(scratch) / "build-load"
        script = (f'while :; do rm -rf "{build}"; '
                  f'cmake -S "{REPO}" -B "{build}" -DCMAKE_BUILD_TYPE=Release >/dev/null 2>&1; '
                  f'cmake --build "{build}" -j 4 >/dev/null 2>&1; done')
        return [subprocess.Popen(["sh", "-c", script], start_new_session=True)]
    raise SystemExit(f"under_load.py: unknown condition {condition!r}")


def stop_load(processes):
    for p in processes:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def summarise(folder, wall, exit_code, condition, suite):
    summary = json.loads((folder / "summary.json").read_text())
    rows = summary["results"]
    speedups = [r for r in rows if r["mode"] != "serial" and not r.get("error")]
    met = sum(1 for r in speedups if r["precision"]["met"])
    short = sum(1 for r in rows if (r["precision"].get("missed") or "").find("pairs in its share") >= 0
                or (r["precision"].get("missed") or "").find("undisturbed blocks in its share") >= 0)
    diagnosed = [r for r in rows if r.get("diagnosis")]
    # Named as the cause, or named with their share beside the cause found.
    others = [r for r in diagnosed if r["diagnosis"]["cause"] == "other_processes"
              or "other processes took" in r["diagnosis"]["line"]]
    not_identified = [r for r in diagnosed if r["diagnosis"]["cause"] == "not_identified"]
    shares = [r["load"]["others_cpu_share"] for r in rows
              if (r.get("load") or {}).get("others_cpu_share") is not None]
    return {
        "suite": suite, "condition": condition, "budget_s": summary["config"]["budget_s"],
        "wall_s": round(wall, 1), "exit_code": exit_code,
        "speedups": len(speedups), "met_target": met, "short_of_minimum": short,
        "below_bound": len(diagnosed), "named_other_processes": len(others),
        "not_identified": len(not_identified),
        "others_cpu_share_median": (sorted(shares)[len(shares) // 2] if shares else None),
        "errors": len(summary["errors"]),
        "busy_note": next((n for n in summary["noise_reasons"] if "the machine is busy" in n), None),
        "example_other_processes": others[0]["diagnosis"]["line"] if others else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary")
    ap.add_argument("out")
    ap.add_argument("--suite", choices=("quick", "default"), default="quick")
    ap.add_argument("--conditions", default="none,loops2,loops4,compile")
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    table = []
    with tempfile.TemporaryDirectory() as scratch:
        for condition in a.conditions.split(","):
            folder = out / f"{a.suite}-{condition}"
            load = start_load(condition, scratch)
            try:
                time.sleep(2)
                before = loadavg()
                args = [a.binary, *(["--quick"] if a.suite == "quick" else []), *a.extra,
                        "--out", str(folder)]
                t0 = time.monotonic()
                with open(out / f"{a.suite}-{condition}.console.txt", "w") as console, \
                        open(out / f"{a.suite}-{condition}.stderr.txt", "w") as err:
                    code = subprocess.run(args, stdout=console, stderr=err).returncode
                wall = time.monotonic() - t0
                after = loadavg()
            finally:
                stop_load(load)
            row = summarise(folder, wall, code, condition, a.suite)
            row["loadavg_before_after"] = [before, after]
            table.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            time.sleep(5)
    (out / f"{a.suite}.json").write_text(json.dumps(table, indent=1) + "\n")
    print("| suite | load | budget | wall | speedups at the target | short of their minimum | "
          "below bound: other processes named / not identified / all | load average |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- | --- |")
    for r in table:
        print(f"| {r['suite']} | {r['condition']} | {r['budget_s']:g} s | {r['wall_s']:.1f} s | "
              f"{r['met_target']} of {r['speedups']} | {r['short_of_minimum']} | "
              f"{r['named_other_processes']} / {r['not_identified']} / {r['below_bound']} | "
              f"{r['loadavg_before_after'][0]:.1f} -> {r['loadavg_before_after'][1]:.1f} |")


if __name__ == "__main__":
    main()
