#!/usr/bin/env python3
"""How often does `cvp gate` cry wolf, and which planted slowdown does it catch?

A thin wrapper over `cvp gate --calibrate` (the method lives in scripts/cvptools/gate/calibration.py, see
scripts/README.md, "Calibration"): for each round count it runs

    cvp gate --calibrate --baseline-bin BINARY --slowdowns SLOWDOWNS --gates GATES --rounds R
             --pool POOL --json OUT/calibration-R-rounds-aa-SLOWDOWNS.json
             --markdown OUT/calibration-R-rounds-aa-SLOWDOWNS.md -- SUBSET

which runs BINARY as both baseline and candidate: A/A (the candidate unchanged) and with a
planted slowdown (the candidate gets --inject-slowdown PCT:^matmul/n:[0-9]+/mode:serial/),
GATES gates per condition, each R rounds evaluated exactly like a real gate (duets for the
one-core points, interleaved rounds in a seeded random order for the others, confirmation
included), the rounds drawn from a pool of POOL rounds per condition.

Usage: tools/calibrate_gate.py CVPBENCH_BINARY OUT_FOLDER [--gates 40] [--rounds 30] [--pool 4xR]
                         [--slowdowns 5] [--duet auto] [-- ARGS FOR THE BINARY]
Without ARGS the binary runs SUBSET: the arguments of the example workflow's gate step (the
serial and concurrent matmul points, all duets, 20 blocks a run). Every other setting is the
gate's default (threshold, test, canary), as in the workflow.
"""

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CVP = ROOT / "scripts" / "cvp"
SUBSET = ["--filter", "^matmul/n:512/mode:(serial|concurrent)/backend:threads/",
          "--precision", "0", "--repetitions", "20", "--min-time", "0.05"]


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("binary")
    p.add_argument("out")
    p.add_argument("--gates", type=int, default=40)
    p.add_argument("--rounds", default="30", help="round counts, one calibration each")
    p.add_argument("--pool", type=int, default=None,
                   help="rounds per condition (default 4 x rounds; 0: no pool)")
    p.add_argument("--slowdowns", default="5")
    p.add_argument("--duet", default="auto", choices=("auto", "on", "off"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    code = 0
    for rounds in [int(r) for r in args.rounds.split(",")]:
        stem = out / f"calibration-{rounds}-rounds-aa-{args.slowdowns.replace(',', '-')}"
        pool = 4 * rounds if args.pool is None else max(args.pool, 2 * rounds) if args.pool else 0
        cmd = [sys.executable, str(CVP), "gate", "--calibrate", "--baseline-bin", args.binary,
               "--slowdowns", args.slowdowns, "--gates", str(args.gates), "--rounds",
               str(rounds), "--pool", str(pool),
               "--duet", args.duet, "--json", f"{stem}.json", "--markdown", f"{stem}.md",
               "--force", "--", *(extra or SUBSET)]
        print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
        code = subprocess.run(cmd).returncode or code
    return code


if __name__ == "__main__":
    sys.exit(main())
