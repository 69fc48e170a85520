"""End-to-end tests of the cvpbench program: run the built binary as a user would."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def cvpbench():
    path = binary_path()
    if not path.exists():
        if os.environ.get("CVPBENCH_BIN"):
            pytest.fail(f"CVPBENCH_BIN={path} does not exist")
        pytest.skip("cvpbench is not built (cmake --preset release && cmake --build --preset release)")
    return path


def run(cvpbench, args, cwd, prefix=(), timeout=300):
    return subprocess.run([*prefix, str(cvpbench), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def load_summary(folder):
    return json.loads((Path(folder) / "summary.json").read_text())


def has_taskset():
    return shutil.which("taskset") is not None
