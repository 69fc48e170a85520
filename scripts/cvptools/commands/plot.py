"""`cvp plot`: charts (PNG and SVG) of one or more summaries."""

import os

from .. import CvpError
from .. import runio
from .common import FORMATTER, INPUTS_HELP, at_least, say, summaries

EPILOG_PLOT = """examples:
  cvp plot results/ci-runner/ -o charts/
  cvp plot results/laptop results/workstation -o charts/machines --chart scaling --format svg
charts: speedup (per workload group, kinds cpu, memory, io: serial, concurrent and parallel at
the cores, the points the verdict lines quote, with 95% CI and the bound), scaling (cpu and
memory kinds: speedup vs threads with the bound and the ideal; cpu: Amdahl fit, Karp-Flatt;
distributed points as series of their own, P = threads x ranks), weak (runs with --scaling weak
or both: strong and weak speedup vs workers P, the ideal, Amdahl and Gustafson fits), io (throughput vs requests in flight, 95% CI), crossover (speedup vs CPU share c/(c+w)),
runs (two inputs or more: every run's headline speedups, a point per run, and their spread).
Several inputs are drawn side by side, one column per run, each panel on its own axis; a
series has the same colour in every chart. Given more runs than --detail (default 8), the
detailed charts draw the first 8 with data for each chart and say so in their title; the runs
chart shows every run. Runs are read one at a time; no image exceeds 8192 px on a side."""

# plots.DEFAULT_DETAIL and plots.MAX_DETAIL, spelled out so that parsing imports no matplotlib
DEFAULT_DETAIL, MAX_DETAIL = 8, 16
DETAIL = at_least(1, MAX_DETAIL)




def say_selection(command, sel, names):
    """One line on stderr when the detailed charts or sections leave runs out."""
    if sel.total <= sel.detail:
        return
    drawn = [n for n in names if n != "runs"]
    charts = f"; the {', '.join(drawn)} chart(s) draw {sel.detail} each" if drawn else ""
    whole = ("every run is in the runs chart" if "runs" in names
             else "the runs chart, not asked for, would show every run")
    say(f"cvp {command}: {sel.total:,} runs{charts} (--detail {sel.detail}); {whole}")


def run(args):
    from .. import plots
    if args.chart:  # refuse an existing output before reading thousands of files
        runio.check_writable([os.path.join(args.out, f"{n}.{fmt}") for n in args.chart
                              for fmt in args.format], args.force)
    sel = plots.gather(summaries(args.inputs), args.detail)
    names = list(dict.fromkeys(args.chart)) if args.chart else plots.available(sel)
    if not names:
        raise CvpError(f"{plots._names(sel.paths)}: nothing to draw "
                       f"(no result other than serial)")
    targets = [os.path.join(args.out, f"{n}.{fmt}") for n in names for fmt in args.format]
    runio.check_writable(targets, args.force)
    files = plots.render_charts(sel, names, args.format)
    runio.make_folder(args.out)
    outputs = {os.path.join(args.out, name): data for name, data in files.items()}
    runio.write_outputs(outputs, args.force)
    say_selection("plot", sel, names)
    for path in outputs:
        print(path)
    return 0


def add_parser(sub):
    p = sub.add_parser("plot", help="draw charts (PNG and SVG)", epilog=EPILOG_PLOT,
                       formatter_class=FORMATTER,
                       description="Draw charts from one or more summaries.")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER", help=INPUTS_HELP)
    p.add_argument("-o", "--out", default="charts", metavar="FOLDER",
                   help="folder for the charts (created if needed; default: charts)")
    p.add_argument("--chart", action="append",
                   choices=("speedup", "scaling", "weak", "io", "crossover", "roofline", "runs"),
                   help="draw only this chart (repeatable; default: every chart with data)")
    p.add_argument("--format", nargs="+", choices=("png", "svg"), default=["png", "svg"],
                   help="file formats (default: png svg)")
    p.add_argument("--detail", type=DETAIL, default=DEFAULT_DETAIL, metavar="N",
                   help="at most N runs side by side in the detailed charts, the first N with "
                        "data for each (default 8, at most 16); the runs chart shows every run")
    p.add_argument("--force", action="store_true", help="overwrite existing chart files")
    p.set_defaults(handler=run)
