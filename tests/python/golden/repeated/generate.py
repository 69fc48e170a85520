"""Regenerate the repeated-run fixture: one small cvpbench run with 20 repetitions per benchmark.

    /usr/bin/python3 tests/python/golden/repeated/generate.py            # build/release's cvpbench
    CVPBENCH_BIN=path/to/cvpbench /usr/bin/python3 tests/python/golden/repeated/generate.py

What the program writes (a few seconds of running), kept for the comparison tests: splitting one
run's 20 repetitions gives real A/A pairs of 3, 5 and 10 samples a side (and gate rounds of one
repetition), and scaling one side plants a known slowdown into real noise. Matmul serial and
parallel, requests serial, on blocking threads and on an event loop, with /requests:N in the
names and the requests/s counter in benchmark.json. The only edit is `context.executable`, cut
to the program's file name so that no path of the machine that ran it is committed;
benchmark.json is written without indentation to keep it small. Only the standard library is
needed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]

ARGS = ["--size", "128", "--repetitions", "20", "--min-time", "0.01", "--threads", "2",
        "--c-us", "50", "--w-us", "1000", "--in-flight", "8", "--requests", "120",
        "--no-crossover", "--backend", "threads,eventloop",
        "--filter", "(mode:serial|mode:parallel)"]


def main():
    binary = Path(os.environ.get("CVPBENCH_BIN")
                  or ROOT / "build" / "release" / "benchmarks" / "cvpbench")
    if not binary.exists():
        sys.exit(f"generate.py: {binary} does not exist (build it, or set CVPBENCH_BIN)")
    with tempfile.TemporaryDirectory(prefix="cvp-repeated-") as tmp:
        out = Path(tmp) / "run"
        proc = subprocess.run([str(binary), *ARGS, "--out", str(out)], capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            sys.exit(f"generate.py: cvpbench exited {proc.returncode}: "
                     f"{proc.stderr.strip()[-500:]}")
        raw = json.loads((out / "benchmark.json").read_text())
        raw["context"]["executable"] = Path(raw["context"].get("executable", "cvpbench")).name
        (HERE / "benchmark.json").write_text(json.dumps(raw, separators=(",", ":")) + "\n")
        shutil.copyfile(out / "summary.json", HERE / "summary.json")
    print(f"wrote {HERE / 'summary.json'} and {HERE / 'benchmark.json'}")


if __name__ == "__main__":
    main()
