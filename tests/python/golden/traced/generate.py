"""Regenerate the traced fixture: summary.json, benchmark.json and trace.json of one real
`cvpbench --quick --trace` run over a few points of each workload (matmul and the triad on
std::thread, requests at K = 8 and 64 on event loops, and their serial baseline), with the machine's limits
measured afresh, so that its rows carry timelines, rooflines and diagnoses.

    /usr/bin/python3 tests/python/golden/traced/generate.py         # build/release's cvpbench
    CVPBENCH_BIN=path/to/cvpbench /usr/bin/python3 tests/python/golden/traced/generate.py

About 15 s on 2 cores. The only edit is `context.executable`, cut to the program's file name.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from real_run import write_real_run  # noqa: E402

POINTS = ("^(matmul/n:512/mode:(serial|concurrent|parallel)/backend:threads/"
          "|triad/.*/backend:threads/"
          "|requests/c_us:50/w_us:1000/k:(8|64)/.*/backend:eventloop/)")


def main():
    write_real_run(["--quick", "--trace", "--limits", "measure", "--filter", POINTS], HERE)


if __name__ == "__main__":
    main()
