#!/usr/bin/env python3
"""How the results database scales: import, queries and the dashboard at growing run counts.

For each size (default 100, 1000, 10000 runs of 100 benchmarks on 3 machines, from the
synthetic generator, with a planted 5% step on one benchmark at two thirds of the runs), a new
database is filled by one `cvp db import` of the runs' parent folder, then timed: importing
everything again (nothing is added), `cvp db list`, the history of one benchmark, `cvp history
--regressions` over all of them, and `cvp dashboard` (unless --no-dashboard). Each command runs
as its own process; its wall time and the peak resident memory of its largest process
(getrusage of the children) are printed as a Markdown table.

    python3 tools/db_scale.py --work /var/tmp/cvp-scale --sizes 100,1000,10000
    python3 tools/db_scale.py --work ... --db-url postgresql://user@host/db  (PostgreSQL;
        its tables are dropped first, so give a database made for this)
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import synthetic  # the generator beside this script

CVP = Path(__file__).resolve().parents[1] / "scripts" / "cvp"
STEP_BENCH = "matmul/n:512/mode:serial/backend:threads/threads:1"

_MEASURE = r"""
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{code} {wall} {rss}")
"""


def measure(args):
    """(exit code, wall seconds, peak RSS in MiB) of one command in a process of its own."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *map(str, args)],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), float(out[1]), int(out[2]) / 1024.0


def reset_postgres(url):
    import psycopg2
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for table in ("results", "documents", "runs", "imports", "benchmarks", "machines",
                      "meta"):
            cur.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    conn.close()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 tools/db_scale.py", description=__doc__)
    p.add_argument("--work", required=True, help="a folder for the runs and the database")
    p.add_argument("--sizes", default="100,1000,10000")
    p.add_argument("--benchmarks", type=int, default=100)
    p.add_argument("--machines", type=int, default=3)
    p.add_argument("--db-url", help="a PostgreSQL URL instead of a SQLite file")
    p.add_argument("--no-dashboard", action="store_true")
    args = p.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = Path(args.work)
    runs = work / "runs"
    have = len(list(runs.glob("run-*"))) if runs.exists() else 0
    py = sys.executable
    rows = []
    for n in sizes:
        if have < n:
            t = time.perf_counter()
            synthetic.generate(runs, n - have, benchmarks=args.benchmarks,
                               machines=args.machines, noise=0.02, seed=7, first=have,
                               steps=[synthetic.Step(f"^{STEP_BENCH}$:{(2 * sizes[-1]) // 3}"
                                                     f":1.05")])
            print(f"generated runs {have}..{n - 1} in {time.perf_counter() - t:.1f} s",
                  file=sys.stderr)
            have = n
        part = work / f"runs-{n}"
        if part.exists():
            shutil.rmtree(part)
        part.mkdir()
        for i in range(n):  # the first n runs, as links: one folder to import
            (part / f"run-{i:05d}").symlink_to(runs / f"run-{i:05d}")
        if args.db_url:
            reset_postgres(args.db_url)
            where = args.db_url
        else:
            where = str(work / f"db-{n}.sqlite")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(where + suffix):
                    os.unlink(where + suffix)
        cvp = [py, CVP]
        steps = [("import", cvp + ["db", "import", "--db", where, part]),
                 ("import again", cvp + ["db", "import", "--db", where, part]),
                 ("db list --limit 20", cvp + ["db", "list", "--db", where, "--limit", "20"]),
                 ("history (1 benchmark)", cvp + ["history", "--db", where,
                                                  f"^{STEP_BENCH}$"]),
                 ("history --regressions", cvp + ["history", "--db", where, "--regressions"])]
        if not args.no_dashboard:
            site = work / f"site-{n}"
            steps.append(("dashboard", cvp + ["dashboard", where, "-o", site, "--force"]))
        for name, command in steps:
            code, wall, rss = measure(command)
            rows.append((n, name, code, wall, rss))
            print(f"{n:>6} runs  {name:24} exit {code}  {wall:8.2f} s  {rss:7.0f} MiB",
                  file=sys.stderr, flush=True)
        if not args.db_url:
            size = os.path.getsize(where) / 2**20
            print(f"{n:>6} runs  database {size:.0f} MiB", file=sys.stderr)
        shutil.rmtree(part)
    engine = "PostgreSQL" if args.db_url else "SQLite"
    print(f"| runs ({engine}) | command | exit | wall s | peak RSS MiB |")
    print("|---:|---|---:|---:|---:|")
    for n, name, code, wall, rss in rows:
        print(f"| {n} | {name} | {code} | {wall:.2f} | {rss:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
