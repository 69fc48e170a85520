"""`cvp timeline`: who ran when, from a run made with --trace."""

import os

from .. import CvpError
from .. import runio
from .common import FORMATTER, at_least

EPILOG_TIMELINE = """examples:
  cvpbench --quick --trace --out run1 && cvp timeline run1
  cvp timeline run1 --point 'matmul/n:512/mode:(serial|parallel)/backend:tbb/' -o tbb.svg
On one core the tasks interleave in one CPU colour and the waits of requests are filled by
others' CPU parts; in parallel the tasks stack across the CPUs. trace.json itself opens in
Perfetto's UI (ui.perfetto.dev) or chrome://tracing."""


def run(args):
    out = args.out or "timeline.png"
    fmt = os.path.splitext(out)[1].lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise CvpError(f"{out}: give a file name ending in .png or .svg")
    runio.check_writable([out], args.force)
    from .. import timeline
    chosen = timeline.panels(args.run, args.point or (), args.max_workers)
    data = timeline.draw(chosen, fmt)
    runio.write_outputs({out: data}, args.force)
    print(out)
    return 0


def add_parser(sub):
    p = sub.add_parser("timeline", help="draw who ran when, from a run made with --trace",
                       epilog=EPILOG_TIMELINE, formatter_class=FORMATTER,
                       description="Draw the trace of a run (cvpbench --trace): one panel per "
                                   "point, one lane per worker, a bar per task or request CPU "
                                   "part coloured by its CPU, and the requests waiting.")
    p.add_argument("run", metavar="RUN", help="the run folder (or its summary.json)")
    p.add_argument("--point", action="append", metavar="REGEX",
                   help="draw the traced points whose names match (repeatable; default: the "
                        "serial, most concurrent and most parallel points of the first computing "
                        "group and of the first request group, on one backend)")
    p.add_argument("-o", "--out", metavar="FILE", help="PNG or SVG file (default: timeline.png)")
    p.add_argument("--max-workers", type=at_least(1), default=16, metavar="N",
                   help="lanes per panel at most (default 16); the rest are counted in the title")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=run)
