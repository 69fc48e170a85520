"""`cvp dashboard`: a static site from a results database."""

import os

from .. import CvpError
from .common import FORMATTER, at_least, open_db

EPILOG_DASHBOARD = """examples:
  cvp dashboard results.sqlite -o site/
  cvp dashboard postgresql://bench@db.example/cvp -o site/ --metric speedup
index.html: the machine matrix (speedup of each workload and mode on each machine, throughput
per core) and the list of benchmarks; a page per benchmark with interactive trend charts
(plotly, written once as plotly.min.js next to the pages) with the change points marked; a page
per run. Every table is plain HTML and reads with JavaScript off."""


def run(args):
    from .. import dashboard
    from .. import db as cvpdb
    if not cvpdb.is_postgres(args.database) and args.database.strip():
        inside = os.path.realpath(args.database)
        out = os.path.realpath(args.out) if args.out.strip() else ""
        if out and (inside + os.sep).startswith(out + os.sep):
            raise CvpError(f"{args.database}: lies inside the output folder {args.out}, which "
                           f"is published as the site; keep the database out of it")
    with open_db(args.database) as database:
        written = dashboard.build(database, args.out, force=args.force,
                                  options=dashboard.Options(metric=args.metric,
                                                            max_points=args.max_points))
    print(f"dashboard: {written} in {args.out} (open {os.path.join(args.out, 'index.html')})")
    return 0


def add_parser(sub):
    p = sub.add_parser("dashboard", help="write a static dashboard site from a results database",
                       epilog=EPILOG_DASHBOARD, formatter_class=FORMATTER,
                       description="Write a static site (opens from disk, no network): trends "
                                   "with change points, the machine matrix, a page per run.")
    p.add_argument("database", metavar="DB", help="SQLite file or postgresql:// URL")
    p.add_argument("-o", "--out", required=True, metavar="FOLDER",
                   help="folder to write (created if needed; an existing one must be empty "
                        "or hold a dashboard written before, whose files --force replaces, "
                        "keeping every other file there)")
    p.add_argument("--metric", choices=("time", "throughput", "speedup"), default="time",
                   help="the trend charts' metric (default: time per unit of work)")
    p.add_argument("--max-points", type=at_least(10), default=2000, metavar="N",
                   help="draw at most the last N runs of a series (default 2000); change "
                        "points are found on the whole series")
    p.add_argument("--force", action="store_true",
                   help="replace the files an earlier dashboard wrote in FOLDER (listed in its "
                        ".cvp-dashboard); other files there (.git/, CNAME) are kept")
    p.set_defaults(handler=run, stoppable=True)
