"""Shared helpers for the cvp tests: golden inputs, running the CLI, synthetic gate rounds.

A module of its own (not conftest.py): tests import from it by name, and `conftest` is
ambiguous when pytest collects tests/python together with tests/e2e."""

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
GOLDEN = Path(__file__).resolve().parent / "golden"
CVP = SCRIPTS / "cvp"

if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))


def run_cvp(*args, cwd=None, timeout=120, env=None):
    """Run the CLI exactly as users do: `python3 scripts/cvp ...`, with this interpreter."""
    return subprocess.run([sys.executable, str(CVP), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def load_golden(name):
    return json.loads((GOLDEN / name / "summary.json").read_text())


def write_json(path, doc):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


# Benchmarks for synthetic gate rounds: name -> typical seconds.
SYNTHETIC = {
    "matmul/n:256/mode:serial/backend:tbb/threads:1": 6.9e-3,
    "matmul/n:256/mode:concurrent/backend:tbb/threads:2": 7.1e-3,
    "matmul/n:256/mode:parallel/backend:tbb/threads:2": 3.7e-3,
    "matmul/n:256/mode:parallel/backend:openmp/threads:2": 3.6e-3,
    "matmul/n:512/mode:serial/backend:tbb/threads:1": 5.6e-2,
    "matmul/n:512/mode:parallel/backend:tbb/threads:2": 2.9e-2,
    "requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:eventloop/threads:1": 2.2e-2,
    "requests/c_us:50/w_us:1000/k:64/mode:concurrent/backend:threads/threads:64": 2.4e-2,
    "requests/c_us:50/w_us:1000/k:64/mode:parallel/backend:eventloop/threads:2": 1.1e-2,
    "requests/c_us:500/w_us:1000/k:8/mode:concurrent/backend:eventloop/threads:1": 5.6e-2,
}


def gbench_doc(times, reps=5, rng=None, noise=0.015):
    """Raw Google Benchmark JSON with `reps` iterations per benchmark (times in seconds)."""
    rng = rng or random.Random(0)
    benchmarks = []
    for family, (name, seconds) in enumerate(times.items()):
        full = name + "/real_time"
        for i in range(reps):
            t = seconds * math.exp(rng.gauss(0, noise)) * 1e9
            benchmarks.append({"name": full, "family_index": family,
                               "per_family_instance_index": 0, "run_name": full,
                               "run_type": "iteration", "repetitions": reps,
                               "repetition_index": i, "threads": 1, "iterations": 10,
                               "real_time": t, "cpu_time": t, "time_unit": "ns"})
    return {"context": {"date": "2024-06-01T00:00:00+00:00", "host_name": "synthetic",
                        "executable": "cvpbench", "num_cpus": 2, "mhz_per_cpu": 2800,
                        "cpu_scaling_enabled": False, "caches": [], "load_avg": [0, 0, 0],
                        "library_build_type": "release"},
            "benchmarks": benchmarks}


def synthetic_rounds(folder, rounds=5, slowdown=None, seed=1, drift=0.02, noise=0.015,
                     canary_noise=0.0, prefix=""):
    """Write paired rounds of raw Google Benchmark JSON; return (baseline files, candidate files).
    Each round shares a machine drift between its two sides (what pairing removes); the
    candidate is slower by `slowdown[name]` (a factor) where given."""
    rng = random.Random(seed)
    slowdown = slowdown or {}
    base_files, cand_files = [], []
    canary = "matmul/n:256/mode:serial/backend:tbb/threads:1"
    for i in range(rounds):
        shift = math.exp(rng.gauss(0, drift))
        jolt = math.exp(rng.gauss(0, canary_noise)) if canary_noise else 1.0
        times = {n: t * shift * (jolt if n == canary else 1.0) for n, t in SYNTHETIC.items()}
        base = gbench_doc(times, rng=rng, noise=noise)
        jolt_b = math.exp(rng.gauss(0, canary_noise)) if canary_noise else 1.0
        cand_times = {n: t * slowdown.get(n, 1.0) * (jolt_b / jolt if n == canary else 1.0)
                      for n, t in times.items()}
        cand = gbench_doc(cand_times, rng=rng, noise=noise)
        base_files.append(write_json(Path(folder) / f"{prefix}base{i}.json", base))
        cand_files.append(write_json(Path(folder) / f"{prefix}cand{i}.json", cand))
    return base_files, cand_files


def assert_clean_error(proc, fragment):
    """Exit 2, one line on stderr naming the problem, no traceback."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err, proc.stdout[-500:])
    assert "Traceback" not in err and "Traceback" not in proc.stdout
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert fragment in lines[0], (fragment, lines[0])


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    return None
