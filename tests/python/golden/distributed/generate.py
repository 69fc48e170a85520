"""Regenerate the distributed fixtures: two real runs of 2 MPI ranks on this host (Open MPI's
mpirun), each with `--scaling both`, so that they hold serial, concurrent and parallel points,
distributed ones (`mode: distributed`, `ranks: 2`, `values.communication_s`), weak copies of
the parallel and distributed points (`weak: P`), and the summary's `machine.cluster` and
`machine.limits.network`:

    run/    the run as it is
    slow/   the same run with every distributed point slowed by 10% inside its timed region
            (`--inject-slowdown 10:distributed`), which `cvp compare run slow` must flag

    /usr/bin/python3 tests/python/golden/distributed/generate.py         # build/release's cvpbench
    CVPBENCH_BIN=path/to/cvpbench /usr/bin/python3 tests/python/golden/distributed/generate.py
    MPIRUN=path/to/mpirun ...                                            # another launcher

About 90 s (two budgets of 40 s). The only edit is `context.executable`, cut to the program's
file name; benchmark.json is unindented.
"""

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from real_run import write_real_run  # noqa: E402

ARGS = ["--scaling", "both", "--filter", "^(matmul/n:256|triad)/", "--backend", "threads",
        "--size", "256", "--triad-n", "1000000", "--threads", "1,2", "--budget", "40"]
RUNS = {"run": [], "slow": ["--inject-slowdown", "10:distributed"]}


def main():
    mpirun = os.environ.get("MPIRUN") or shutil.which("mpirun")
    if not mpirun:
        sys.exit("generate.py: mpirun not found (install Open MPI, or set MPIRUN)")
    # Two ranks on this host, more ranks than a 2-core machine has slots for, not bound (each
    # rank pins its own team); as root too (a container's CI).
    launcher = [mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                "-np", "2"]
    for name, extra in RUNS.items():
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        write_real_run(ARGS + extra, folder, compact=True, launcher=launcher)


if __name__ == "__main__":
    main()
