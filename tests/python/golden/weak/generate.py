"""Regenerate the weak-scaling fixture: one real run on one machine with `--scaling both`, so
that beside the strong points (the group's own problem) each parallel point with more than one
worker has a copy whose problem grew with its workers P (`weak: P`, `/weak:P/` in its name,
`gustafson_serial_fraction`): matmul n=256 and the triad at 1,000,000 elements on std::thread,
1 and 2 threads.

    /usr/bin/python3 tests/python/golden/weak/generate.py         # build/release's cvpbench
    CVPBENCH_BIN=path/to/cvpbench /usr/bin/python3 tests/python/golden/weak/generate.py

About 30 s (the budget). The only edit is `context.executable`, cut to the program's file name;
benchmark.json is unindented.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from real_run import write_real_run  # noqa: E402

ARGS = ["--scaling", "both", "--filter", "^(matmul/n:256|triad)/", "--backend", "threads",
        "--size", "256", "--triad-n", "1000000", "--threads", "1,2", "--budget", "30"]


def main():
    write_real_run(ARGS, HERE, compact=True)


if __name__ == "__main__":
    main()
