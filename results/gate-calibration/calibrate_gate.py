#!/usr/bin/env python3
"""How often does `cvp gate` cry wolf, and how often does it catch a real 10% slowdown?

1. Runs the same cvpbench binary POOL times (a matmul subset, as a CI job would) and keeps each
   run's summary.json: real rounds with this machine's real noise.
2. A/A: EXPERIMENTS times, draws ROUNDS baseline, candidate and confirmation rounds each (disjoint)
   from the pool and runs the gate on them. Any exit 1 is a false alarm.
3. Planted: the same draws, with the candidate's and confirmation's serial matmul times scaled by
   1 + SLOWDOWN. Exit 1 is a detection.
4. Times one gate run in binary mode (both binaries run interleaved for ROUNDS rounds).

Usage: calibrate_gate.py CVPBENCH_BINARY OUT_FOLDER [POOL] [EXPERIMENTS] [ROUNDS]
(the pool in OUT_FOLDER/pool is reused when it is already there)
"""

import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CVP = ROOT / "scripts" / "cvp"
SUBSET = ["--filter", "^matmul/n:512/mode:(serial|parallel)/backend:(threads|tbb)",
          "--repetitions", "3", "--min-time", "0.05", "--no-crossover"]
SLOWDOWN = 0.10


def run_pool(binary, folder, count):
    runs = []
    for i in range(count):
        out = folder / f"round-{i:03d}"
        if not (out / "summary.json").exists():
            subprocess.run([str(binary), *SUBSET, "--out", str(out)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append(out / "summary.json")
    return runs


def planted(summary_path, folder):
    """A copy of a summary whose serial matmul times are SLOWDOWN slower."""
    doc = json.loads(summary_path.read_text())
    for r in doc["results"]:
        if r["workload"] == "matmul" and r["mode"] == "serial":
            r["wall_s"]["samples"] = [s * (1 + SLOWDOWN) for s in r["wall_s"]["samples"]]
            r["wall_s"]["median"] *= 1 + SLOWDOWN
    out = folder / (summary_path.parent.name + "-slow.json")
    out.write_text(json.dumps(doc))
    return out


def gate(baseline, candidate, confirm):
    args = [sys.executable, str(CVP), "gate", "--baseline-json", *map(str, baseline),
            "--candidate-json", *map(str, candidate), "--confirm-json", *map(str, confirm)]
    started = time.monotonic()
    result = subprocess.run(args, capture_output=True, text=True)
    return result.returncode, time.monotonic() - started


def main():
    binary = Path(sys.argv[1]).resolve()
    folder = Path(sys.argv[2]).resolve()
    pool_size = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    experiments = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pool = run_pool(binary, folder / "pool", pool_size)
    pool_seconds = time.monotonic() - started
    slow_folder = folder / "planted"
    slow_folder.mkdir(exist_ok=True)

    rng = random.Random(2026)
    outcome = {"aa": [], "planted": []}
    for _ in range(experiments):
        draw = rng.sample(pool, 3 * rounds)
        base, cand, conf = draw[:rounds], draw[rounds:2 * rounds], draw[2 * rounds:]
        outcome["aa"].append(gate(base, cand, conf))
        outcome["planted"].append(gate(base, [planted(p, slow_folder) for p in cand],
                                       [planted(p, slow_folder) for p in conf]))

    started = time.monotonic()
    binary_mode = subprocess.run(
        [sys.executable, str(CVP), "gate", "--baseline-bin", str(binary), "--candidate-bin",
         str(binary), "--rounds", str(rounds), "--", *SUBSET], capture_output=True, text=True)
    binary_seconds = time.monotonic() - started

    def count(kind, code):
        return sum(1 for c, _ in outcome[kind] if c == code)

    report = {
        "pool_runs": pool_size,
        "pool_seconds": round(pool_seconds, 1),
        "experiments": experiments,
        "rounds": rounds,
        "subset": SUBSET,
        "planted_slowdown": SLOWDOWN,
        "aa_exit_codes": [c for c, _ in outcome["aa"]],
        "planted_exit_codes": [c for c, _ in outcome["planted"]],
        "aa_false_alarms": count("aa", 1),
        "aa_inconclusive": count("aa", 3),
        "planted_detected": count("planted", 1),
        "planted_inconclusive": count("planted", 3),
        "json_mode_seconds_per_gate": round(
            sum(s for _, s in outcome["aa"] + outcome["planted"]) / (2 * experiments), 2),
        "binary_mode_exit_code": binary_mode.returncode,
        "binary_mode_seconds": round(binary_seconds, 1),
    }
    (folder / f"outcome-{rounds}-rounds.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
