"""Helpers of the end-to-end tests: where the binary is, how to run it, what to read back."""

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "benchmarks" / "schema" / "summary.schema.json"

# Small and fast, but every mode, backend and workload.
TINY = ["--size", "64", "--repetitions", "2", "--min-time", "0.005", "--c-us", "20",
        "--w-us", "300", "--in-flight", "4", "--requests", "40", "--no-crossover"]


def binary_path():
    configured = os.environ.get("CVPBENCH_BIN")
    if configured:
        return Path(configured)
    return ROOT / "build" / "release" / "benchmarks" / "cvpbench"


def run(cvpbench, args, cwd, prefix=(), timeout=300):
    return subprocess.run([*prefix, str(cvpbench), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def load_summary(folder):
    return json.loads((Path(folder) / "summary.json").read_text())


def has_taskset():
    return shutil.which("taskset") is not None
