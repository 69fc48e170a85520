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

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from real_run import write_real_run  # noqa: E402

ARGS = ["--size", "128", "--repetitions", "20", "--min-time", "0.01", "--threads", "2",
        "--c-us", "50", "--w-us", "1000", "--in-flight", "8", "--requests", "120",
        "--no-crossover", "--backend", "threads,eventloop",
        "--filter", "(mode:serial|mode:parallel)"]


def main():
    write_real_run(ARGS, HERE, compact=True)


if __name__ == "__main__":
    main()
