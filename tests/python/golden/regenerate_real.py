"""Regenerate every fixture that is a real run of the program, one folder after another:
golden/real, golden/repeated, golden/traced, golden/plugins, golden/one_machine, golden/weak
and golden/distributed (each folder's generate.py says what its run is; distributed needs
Open MPI's mpirun). Run it after a change to what cvpbench writes (a
new field in summary.json, say), on a quiet machine with at least 2 cores, then the Python
tests: the readers are tested against what the program really writes.

    /usr/bin/python3 tests/python/golden/regenerate_real.py          # build/release's cvpbench
    CVPBENCH_BIN=path/to/cvpbench /usr/bin/python3 tests/python/golden/regenerate_real.py
    /usr/bin/python3 tests/python/golden/regenerate_real.py traced   # some folders only

About 4 minutes on 2 cores. The modelled inputs (golden/runner, workstation, hostile) come from
golden/generate.py instead, and golden/complexity from its generate.sh. Standard library only.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REAL = ("real", "repeated", "traced", "plugins", "one_machine", "weak", "distributed")


def main(argv):
    chosen = argv or list(REAL)
    unknown = [name for name in chosen if name not in REAL]
    if unknown:
        sys.exit(f"regenerate_real.py: {', '.join(unknown)} is not a real-run fixture "
                 f"(choose from {', '.join(REAL)})")
    for name in chosen:
        print(f"{name}:", flush=True)
        done = subprocess.run([sys.executable, str(HERE / name / "generate.py")])
        if done.returncode != 0:
            sys.exit(f"regenerate_real.py: {name}/generate.py failed (exit {done.returncode})")


if __name__ == "__main__":
    main(sys.argv[1:])
