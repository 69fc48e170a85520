"""Helpers of the end-to-end tests: where the binary is, how to run it, what to read back."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "benchmarks" / "schema" / "summary.schema.json"

# Small and fast, but every mode, backend and workload.
# The triad runs small here (its arrays then fit in the caches, which its verdict says).
TINY = ["--size", "64", "--repetitions", "2", "--precision", "0", "--min-time", "0.005", "--c-us", "20",
        "--w-us", "300", "--in-flight", "4", "--requests", "40", "--no-crossover",
        "--triad-n", "65536"]


def binary_path():
    configured = os.environ.get("CVPBENCH_BIN")
    if configured:
        # Taken from where pytest was started: the tests run the program from other folders.
        return Path(configured).resolve()
    return ROOT / "build" / "release" / "benchmarks" / "cvpbench"


def builtin_workloads():
    """The names in workloads/builtin.list, the program's built-in workloads: a workload added
    by the recipe in ARCHITECTURE.md needs no change here."""
    text = (ROOT / "workloads" / "builtin.list").read_text()
    return set(re.findall(r"^CVP_WORKLOAD\((\w+)\)", text, flags=re.M))


def run(cvpbench, args, cwd, prefix=(), timeout=300):
    return subprocess.run([*prefix, str(cvpbench), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def refuse_constant(token):
    """parse_constant for json.loads: NaN and Infinity are not strict JSON."""
    raise ValueError(f"not strict JSON: bare {token}")


def load_summary(folder):
    return json.loads((Path(folder) / "summary.json").read_text())


def has_taskset():
    return shutil.which("taskset") is not None


def noaffinity_binary_path():
    """The cvpbench of the `noaffinity` preset (CVP_NO_AFFINITY), or None when not configured."""
    configured = os.environ.get("CVPBENCH_NOAFFINITY_BIN")
    if configured:
        return Path(configured)
    default = ROOT / "build" / "noaffinity" / "benchmarks" / "cvpbench"
    return default if default.exists() else None


def start(cvpbench, args, cwd, stderr_log):
    """Starts cvpbench in the background, its stderr going to the file `stderr_log`."""
    return subprocess.Popen([str(cvpbench), *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=open(stderr_log, "w"), text=True)


def wait_for_text(process, stderr_log, text, timeout=120, count=1):
    """Waits until `text` appears `count` times in the stderr log (or the process ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(stderr_log).read_text().count(text) >= count:
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.02)
    return False


def json_files_are_whole(folder):
    """Every benchmark.json / summary.json in `folder` parses; returns the names present."""
    present = []
    for name in ("benchmark.json", "summary.json"):
        path = Path(folder) / name
        if path.exists():
            json.loads(path.read_text())  # raises on a half-written file
            present.append(name)
    return present
