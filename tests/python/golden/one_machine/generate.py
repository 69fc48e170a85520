"""Regenerate the one-machine fixture: three real `cvpbench --quick` runs on this machine, one
after another, of different workloads: `matmul` (matmul only), `matmul_triad` (both) and
`triad` (triad only), small sizes, on std::thread.

    /usr/bin/python3 tests/python/golden/one_machine/generate.py         # build/release's cvpbench
    CVPBENCH_BIN=path/to/cvpbench /usr/bin/python3 tests/python/golden/one_machine/generate.py

About 40 s on 2 quiet cores (the budget leaves room for a busy machine). `cvp plot` and `cvp report` over them must group the runs by machine and
workload: a panel only where a run has the workload, titled with its own workload. The only
edit is `context.executable`, cut to the program's file name; benchmark.json is unindented.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from real_run import write_real_run  # noqa: E402

COMMON = ["--quick", "--size", "128", "--triad-n", "1048576", "--backend", "threads",
          "--repetitions", "4", "--precision", "0", "--budget", "120"]
RUNS = {"matmul": "^matmul/", "matmul_triad": "^(matmul|triad)/", "triad": "^triad/"}


def main():
    for name, points in RUNS.items():
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        write_real_run(COMMON + ["--filter", points], folder, compact=True)


if __name__ == "__main__":
    main()
