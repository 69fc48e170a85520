"""Regenerate the real-output fixture: summary.json and benchmark.json of one small cvpbench run.

    /usr/bin/python3 tests/python/golden/real/generate.py            # build/release's cvpbench
    CVPBENCH_BIN=path/to/cvpbench /usr/bin/python3 tests/python/golden/real/generate.py

Unlike the modelled inputs one folder up, these files are what the program writes (about 10 s
of running): the tests read them to check what dashboards make of the raw Google Benchmark
JSON and of the exports. Rerun this after a change to the program's output. The only edit is
`context.executable`, cut to the program's file name so that no path of the machine that ran it
is committed. Only the standard library is needed.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from real_run import write_real_run  # noqa: E402

# Small and fast, and still every shape a dashboard meets: matmul (serial, concurrent,
# parallel), requests on blocking threads and on an event loop, 3 repetitions (so the raw
# file has repetition rows and _mean/_median/_stddev/_cv aggregates).
ARGS = ["--size", "64", "--repetitions", "3", "--min-time", "0.005", "--c-us", "20",
        "--w-us", "300", "--in-flight", "4", "--requests", "40", "--no-crossover",
        "--filter", "backend:(threads|eventloop)/"]


def main():
    write_real_run(ARGS, HERE)


if __name__ == "__main__":
    main()
