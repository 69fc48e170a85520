#!/usr/bin/env python3
"""Synthetic runs for the results database: many summaries derived from one real summary.

The scale measurements and the database tests need thousands of runs over weeks of commits on
several machines, with known changes in them. Each synthetic run is a real summary (the
template, by default results/amd-epyc-zen4-2core/summary.json) with its rows cycled to the asked
number of benchmarks (a repeated row gets a `variant` parameter so that its name is its own),
the optional per-row detail (samples beyond the repetitions, sampling, timeline, diagnosis)
left out to keep files small, and its times drawn around the template's: each run and
benchmark is the template's median times a machine factor, times the planted steps in force,
times lognormal noise of the given relative sigma. Dates advance by an hour a run, commits are
derived from the run number, so series are ordered and reproducible from the seed.

    python3 tools/synthetic.py -o runs/ --runs 1000 --benchmarks 100 --machines 3 \\
        --step 'matmul/n:64/mode:serial:500:1.05'

writes runs/run-00000/summary.json ... (an existing folder must be empty or absent).
"""

import argparse
import copy
import hashlib
import json
import math
import random
import re
from datetime import datetime, timedelta, timezone
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # cvptools

from cvptools import CvpError  # noqa: E402
from cvptools import runio  # noqa: E402
from cvptools import results as res  # noqa: E402

DEFAULT_TEMPLATE = (Path(__file__).resolve().parents[1] / "results" / "amd-epyc-zen4-2core"
                    / "summary.json")
_KEEP = ("workload", "kind", "params", "mode", "backend", "threads", "in_flight", "cores",
         "wall_s", "cpu_s", "cpu_per_wall", "throughput", "speedup", "efficiency", "bound",
         "karp_flatt", "evidence", "name", "group", "headline", "work", "label", "verified",
         "repetitions_done")
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Step:
    """From run `at` on, the benchmarks matching `pattern` take `factor` times as long."""

    def __init__(self, text):
        try:
            pattern, at, factor = text.rsplit(":", 2)
            self.at, self.factor = int(at), float(factor)
            self.pattern = re.compile(pattern)
        except (ValueError, re.error):
            raise CvpError(f"--step {text!r}: expected REGEX:RUN:FACTOR such as "
                           f"'matmul/n:64:500:1.05'") from None
        if self.at < 0 or not 0 < self.factor < 100:
            raise CvpError(f"--step {text!r}: RUN must be >= 0 and FACTOR in (0, 100)")


def template_rows(doc, benchmarks):
    """`benchmarks` rows cycled from the template's measured rows, each with a unique name."""
    rows = [r for r in res.live_results(runio.Run("template", runio.SUMMARY, doc))
            if isinstance(r.get("wall_s"), dict) and r["wall_s"].get("median")]
    if not rows:
        raise CvpError("template: has no measured results")
    out = []
    for i in range(benchmarks):
        base = {k: copy.deepcopy(v) for k, v in rows[i % len(rows)].items() if k in _KEEP}
        variant = i // len(rows)
        if variant:
            base["params"] = dict(base.get("params") or {}, variant=variant)
            name = res.result_name(base)
            parts = name.split("/")
            base["name"] = "/".join(parts[:1] + [f"variant:{variant}"] + parts[1:])
        else:
            base["name"] = res.result_name(base)
        out.append(base)
    return out


def make_run(template, rows, run, machine, machines, steps, noise, rng, reps=3):
    doc = {k: copy.deepcopy(v) for k, v in template.items()
           if k in ("schema_version", "tool", "config", "workloads", "verdicts", "errors",
                    "interrupted", "noisy", "noise", "noise_reasons", "not_measured")}
    doc["tool"] = dict(doc.get("tool") or {}, git_commit=hashlib.sha1(
        f"synthetic commit {run}".encode()).hexdigest()[:12])
    m = copy.deepcopy(template["machine"])
    m.pop("limits", None)
    m["cpu_model"] = f"{m.get('cpu_model', 'CPU')} (synthetic machine {machine})"
    m["date"] = (START + timedelta(hours=run, minutes=machine)).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["machine"] = m
    doc["verdicts"] = []
    machine_factor = 1.0 + 0.1 * machine
    out = []
    for r in rows:
        factor = machine_factor * math.exp(rng.gauss(0.0, noise))
        for s in steps:
            if run >= s.at and s.pattern.search(r["name"]):
                factor *= s.factor
        row = copy.deepcopy(r)
        wall = row["wall_s"]
        median = float(wall["median"]) * factor
        samples = sorted(median * math.exp(rng.gauss(0.0, noise / 2)) for _ in range(reps))
        samples[reps // 2] = median
        row["wall_s"] = {"median": median, "ci95": [samples[0], samples[-1]],
                         "samples": samples}
        if "ci_coverage" in wall:
            row["wall_s"]["ci_coverage"] = wall["ci_coverage"]
        row["repetitions_done"] = reps
        tp = row.get("throughput")
        if isinstance(tp, dict) and isinstance(tp.get("value"), (int, float)):
            tp["value"] = float(tp["value"]) / factor
        out.append(row)
    doc["results"] = out
    return doc


def generate(out, runs, benchmarks=100, machines=1, steps=(), noise=0.02, seed=1,
             template=None, first=0):
    """Write runs first..first+runs-1 (machine = run number mod machines) into `out`."""
    template_path = str(template or DEFAULT_TEMPLATE)
    doc = runio.load_run(template_path).doc
    rows = template_rows(doc, benchmarks)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and first == 0:
        raise CvpError(f"{out}: exists and is not an empty folder")
    runio.make_folder(str(out))
    paths = []
    for run in range(first, first + runs):
        rng = random.Random(f"{seed}/{run}")
        machine = run % machines
        summary = make_run(doc, rows, run, machine, machines, steps, noise, rng)
        folder = out / f"run-{run:05d}"
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps(summary, allow_nan=False))
        paths.append(str(folder))
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 tools/synthetic.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--first", type=int, default=0, help="number of the first run (to extend)")
    p.add_argument("--benchmarks", type=int, default=100)
    p.add_argument("--machines", type=int, default=1)
    p.add_argument("--noise", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--template", help="a real summary.json (default: the committed Zen 4 run)")
    p.add_argument("--step", action="append", default=[], metavar="REGEX:RUN:FACTOR")
    args = p.parse_args(argv)
    try:
        if args.runs < 1 or args.benchmarks < 1 or args.machines < 1 or args.first < 0:
            raise CvpError("--runs, --benchmarks and --machines must be at least 1")
        paths = generate(args.out, args.runs, args.benchmarks, args.machines,
                         [Step(s) for s in args.step], args.noise, args.seed, args.template,
                         args.first)
    except CvpError as e:
        print(f"synthetic: error: {e}", file=sys.stderr)
        return 2
    print(f"{len(paths)} runs written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
