"""`cvp report`: one self-contained HTML page."""

from .. import CvpError
from .. import runio
from .common import FORMATTER, INPUTS_HELP, summaries
from .plot import DEFAULT_DETAIL, DETAIL, say_selection

EPILOG_REPORT = """examples:
  cvp report results/ci-runner/ -o report.html
  cvp report results/laptop results/workstation -o machines.html --title "Two machines"
  cvp report cvpbench-runs/*/ -o all.html --detail 4
The page is self-contained (charts embedded) and opens from disk with no network. With two
runs or more, a table lists every run with its headline speedups, under the runs chart; the
first --detail runs (default 8) get their verdicts, machine, results and chart columns."""


def run(args):
    runio.check_writable([args.out], args.force)
    from .. import plots, report
    sel = report.gather(summaries(args.inputs), args.detail)
    if not any(d.results for d in sel.digests):
        raise CvpError(f"{plots._names(sel.paths)}: nothing to report (no results)")
    runio.check_writable([args.out], args.force)
    page = report.build_report(sel, args.title, verbose=args.verbose)
    runio.write_outputs({args.out: page.encode("utf-8")}, args.force)
    say_selection("report", sel, plots.available(sel))
    print(args.out)
    return 0


def add_parser(sub):
    p = sub.add_parser("report", help="write a self-contained HTML report",
                       epilog=EPILOG_REPORT, formatter_class=FORMATTER,
                       description="Write one HTML page: machine context, verdicts, charts and "
                                   "results.")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER", help=INPUTS_HELP)
    p.add_argument("-o", "--out", default="report.html", metavar="FILE",
                   help="HTML file to write (default: report.html)")
    p.add_argument("--title", default="cvpbench report", help="page title")
    p.add_argument("--detail", type=DETAIL, default=DEFAULT_DETAIL, metavar="N",
                   help="give the first N runs a section of their own and a column in the "
                        "detailed charts (default 8, at most 16); every run is in the table "
                        "of runs and the runs chart")
    p.add_argument("--verbose", action="store_true",
                   help="under \"why not more\", give every row below its bound a line of its "
                        "own (by default the rows are grouped by cause and those whose cause was "
                        "not identified counted)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=run)
