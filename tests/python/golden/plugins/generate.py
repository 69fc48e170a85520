"""Regenerate the plug-in fixture: summary.json and benchmark.json of one `cvpbench --quick` run,
with every built-in workload (matmul, requests, triad) and every field the workload interface
adds (workloads, group, work, bound_model, values, headline; the raw file's
cvpbench_workload_kinds and cvpbench_work_units).

    /usr/bin/python3 tests/python/golden/plugins/generate.py         # build/release's cvpbench
    CVPBENCH_BIN=path/to/cvpbench /usr/bin/python3 tests/python/golden/plugins/generate.py

Run it on a quiet machine with at least 2 cores (about 30 s): test_workload_kinds.py plants a
slowdown in a copy and needs the repetitions of a triad and a matmul row to agree within 15%.
The only edit is `context.executable`, cut to the program's file name.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from real_run import write_real_run  # noqa: E402


def main():
    write_real_run(["--quick"], HERE)


if __name__ == "__main__":
    main()
