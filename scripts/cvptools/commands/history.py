"""`cvp history` (and `cvp db history`): trends and change points over runs."""

import os
import sys

from .. import CvpError
from .. import runio
from .common import (COUNT, DB_HELP, FORMATTER, at_least, emit_text, fraction, json_out, number,
                     open_db)

CHANGE_P_VALUE = number(finite=True, rules=[(lambda v: 0.001 <= v <= 0.2,
                                             "must lie between 0.001 and 0.2")])

EPILOG_HISTORY = """examples:
  cvp history 'matmul/n:512/mode:parallel/backend:tbb'
  cvp history --metric speedup --machine ci-runner-3
  cvp history --regressions --markdown changes.md     (CI: exit 1 on a new regression)
A change point splits a series where its level moved (E-Divisive means on the logs of the
values, each split kept when a seeded permutation test gives p <= --p-value). Its size is the
ratio of the medians of the levels after and before it, with a 95% bootstrap CI, and it began
at the first run of the new level (its commit is named). exit codes: 0, 1 (--regressions: the
latest import made a new regression appear), 2 bad input."""


def run(args):
    from .. import history
    opt = history.Options(metric=args.metric, p_value=args.p_value, min_size=args.min_size,
                          min_change=args.min_change)
    with open_db(args.db) as database:
        machine = database.machine(args.machine)["id"] if args.machine else None
        if args.regressions or args.since is not None:
            latest = database.latest_import()
            if args.since is not None and (latest is None or args.since > latest):
                raise CvpError(f"--since {args.since}: the latest import that added runs is "
                               f"{latest or 'none yet'}")
            opt.since_import = args.since if args.since is not None else latest
        for dest in (args.json, args.markdown):
            if dest not in (None, "-"):
                runio.check_writable([dest], args.force)
                if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
                    raise CvpError(f"{dest}: its folder does not exist")
        # Series come one at a time; the listing is printed as they come, and only the JSON
        # of a listing keeps every run's value (--regressions keeps the change points only).
        printing = args.json != "-" and args.markdown != "-"
        keep = bool(args.json) and not args.regressions
        if printing and not args.regressions:
            series = list(_printed_series(database, args, machine, opt, keep))
        else:
            series = list(history.analyse(database, args.benchmark, machine, opt,
                                          keep_points=keep))
    if args.json:
        json_out(history.to_json(series, opt), args.json, args.force)
    if args.markdown:
        emit_text(history.markdown(series, opt), args.markdown, args.force)
    if printing and args.regressions:
        print(history.regressions_text(series, opt))
    elif printing and not series:
        print(f"no series: the benchmarks found have no run with a {args.metric} value")
    if args.regressions and any(c.new and c.regression for s in series for c in s.changes):
        return 1
    return 0


def _printed_series(database, args, machine, opt, keep):
    """history.analyse's series, each printed as it comes, its points dropped unless kept."""
    from .. import history
    for i, s in enumerate(history.analyse(database, args.benchmark, machine, opt)):
        sys.stdout.write(("\n" if i else "") + history.series_text(s, args.last) + "\n")
        if not keep:
            s.points = []
        yield s


def add_arguments(p):
    p.add_argument("benchmark", nargs="?", metavar="BENCHMARK",
                   help="a regular expression; the benchmarks whose names it finds (default: "
                        "all)")
    p.add_argument("--db", metavar="PATH_OR_URL", help=DB_HELP)
    p.add_argument("--machine", metavar="MACHINE", help="only this machine (id, fingerprint "
                                                        "prefix or label)")
    p.add_argument("--metric", choices=("time", "throughput", "speedup"), default="time",
                   help="time per unit of work (default; lower is better), throughput or "
                        "speedup (higher is better)")
    p.add_argument("--regressions", action="store_true",
                   help="list the regressions only; exit 1 when the latest import (or --since) "
                        "made a new one appear")
    p.add_argument("--since", type=COUNT, metavar="IMPORT",
                   help="runs of this import number and later are the new ones (default with "
                        "--regressions: the latest import)")
    p.add_argument("--p-value", type=CHANGE_P_VALUE, default=0.01, metavar="P",
                   help="significance of a change point (permutation test; 0.001 to 0.2, "
                        "default 0.01)")
    p.add_argument("--min-size", type=at_least(2), default=3, metavar="N",
                   help="runs a level must last to be one (default 3)")
    p.add_argument("--min-change", type=fraction, default=0.0, metavar="FRACTION",
                   help="ignore change points smaller than this (e.g. 2%%; default 0)")
    p.add_argument("--last", type=at_least(1), default=30, metavar="N",
                   help="runs printed per series (default 30; change points are always listed)")
    p.add_argument("--json", metavar="FILE", help="also write JSON ('-': JSON on stdout only)")
    p.add_argument("--markdown", metavar="FILE",
                   help="also write the change points as a Markdown table (for a pull-request "
                        "comment; '-': to stdout only)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(handler=run, stoppable=True)


def add_parser(sub):
    p = sub.add_parser("history", help="trends and change points of benchmarks over runs",
                       epilog=EPILOG_HISTORY, formatter_class=FORMATTER,
                       description="The series of each benchmark on each machine over its runs, "
                                   "and its change points (E-Divisive means, permutation test).")
    add_arguments(p)
