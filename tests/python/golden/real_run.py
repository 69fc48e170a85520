"""Writes the files of one real cvpbench run into a fixture folder (used by the generate.py of
golden/real and golden/repeated). The only edit is `context.executable`, cut to the program's
file name so that no path of the machine that ran it is committed. Standard library only."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def write_real_run(args, folder, compact=False, launcher=()):
    """Runs cvpbench (CVPBENCH_BIN, else build/release's) with `args` and writes its
    summary.json and benchmark.json (and trace.json, with --trace) into `folder`; `compact`
    writes the raw file unindented; `launcher` goes before the program (an MPI launcher and its
    options, for a distributed run)."""
    folder = Path(folder)
    binary = Path(os.environ.get("CVPBENCH_BIN")
                  or ROOT / "build" / "release" / "benchmarks" / "cvpbench")
    if not binary.exists():
        sys.exit(f"generate.py: {binary} does not exist (build it, or set CVPBENCH_BIN)")
    with tempfile.TemporaryDirectory(prefix="cvp-fixture-") as tmp:
        out = Path(tmp) / "run"
        proc = subprocess.run([*launcher, str(binary), *args, "--out", str(out)],
                              capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            sys.exit(f"generate.py: cvpbench exited {proc.returncode}: "
                     f"{proc.stderr.strip()[-500:]}")
        raw = json.loads((out / "benchmark.json").read_text())
        raw["context"]["executable"] = Path(raw["context"].get("executable", "cvpbench")).name
        text = (json.dumps(raw, separators=(",", ":")) if compact
                else json.dumps(raw, indent=2))
        (folder / "benchmark.json").write_text(text + "\n")
        shutil.copyfile(out / "summary.json", folder / "summary.json")
        if (out / "trace.json").exists():  # a run made with --trace
            shutil.copyfile(out / "trace.json", folder / "trace.json")
            print(f"wrote {folder / 'trace.json'}")
    print(f"wrote {folder / 'summary.json'} and {folder / 'benchmark.json'}")
