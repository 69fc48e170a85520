"""`cvp export`: summaries for github-action-benchmark or Bencher."""

from .. import runio
from .common import FORMATTER, INPUTS_HELP, json_out

EPILOG_EXPORT = """examples:
  cvp export results/ci-runner/ --format gab-smaller -o times.json
  cvp export results/ci-runner/ --format gab-bigger -o speedups.json
  cvp export results/ci-runner/ --format bmf -o bencher.json
One entry per benchmark and metric, medians with their intervals.
gab-smaller: github-action-benchmark tool customSmallerIsBetter (cpu and memory workloads:
wall time per execution; io: time per request and p50/p95/p99 response times); gab-bigger:
customBiggerIsBetter (speedups, throughputs in each workload's rate unit: GFLOP/s, GB/s,
requests/s, ...); bmf: Bencher Metric Format (bencher run --adapter json).
Hand dashboards these files, not benchmark.json: there every repetition shares one name and
the aggregates (_mean, _median, _stddev, _cv) are series of their own."""


def run(args):
    runs = runio.load_runs(args.inputs, formats=(runio.SUMMARY,))
    if args.out not in (None, "-"):
        runio.check_writable([args.out], args.force)
    from .. import export
    doc = export.export(runs, args.format)
    json_out(doc, args.out, args.force)  # export.export refused non-finite values
    return 0


def add_parser(sub):
    p = sub.add_parser("export", help="export for github-action-benchmark or Bencher",
                       epilog=EPILOG_EXPORT, formatter_class=FORMATTER,
                       description="Export summaries for benchmark dashboards: one series per "
                                   "benchmark and metric.")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_FOLDER", help=INPUTS_HELP)
    p.add_argument("--format", required=True, choices=("gab-smaller", "gab-bigger", "bmf"))
    p.add_argument("-o", "--out", default="-", metavar="FILE",
                   help="file to write (default: stdout)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=run)
