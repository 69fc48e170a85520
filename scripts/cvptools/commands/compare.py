"""`cvp compare`: run B against run A, benchmark by benchmark."""

import sys

from .. import runio
from .common import (ABOVE_0, FORMATTER, IS_FRACTION, at_least, finite_fraction, json_out,
                     number)

EPILOG_COMPARE = """examples:
  cvp compare results/before/ results/after/
  cvp compare old/summary.json new/summary.json --json comparison.json --margin 3%
For each benchmark: B/A of the time per unit of work (per timed execution; per request, or
other unit of work, for io benchmarks, so runs with different request counts still compare, and
say so; kinds and units as the files declare them), the
Hodges-Lehmann estimate with its exact distribution-free interval (nominal 1 - 2 alpha) and
exact one-sided Mann-Whitney p-values, corrected across the benchmarks (Benjamini-Hochberg).
Verdicts: slower/faster (corrected p <= alpha, estimate beyond the margin), no change (whole
interval within the margin), inconclusive, or untestable (too few repetitions: n vs m samples
cannot give p below 1/C(n+m,n)). The footer says what the verdicts can mean at each sample
size, and tests the whole run at once (repetitions reassigned between A and B). Runs from different
machines are compared by throughput and speedups, with both machines named. The geometric mean
of the ratios is printed last, as a secondary figure."""

# alpha of a one-sided test whose two-sided interval is 1 - 2 alpha: in (0, 0.5)
COMPARE_ALPHA = number(finite=True, rules=[IS_FRACTION, ABOVE_0, (
    lambda v: v < 0.5, "must be below 0.5 (the interval is 1 - 2 alpha)")])



def run(args):
    run_a, run_b = runio.load_runs([args.a, args.b], same_format=True)
    if args.json not in (None, "-"):
        runio.check_writable([args.json], args.force)
    from .. import compare
    result = compare.compare_runs(run_a, run_b, alpha=args.alpha, margin=args.margin,
                                  correction=args.correction, resamples=args.resamples,
                                  seed=args.seed)
    if args.json == "-":
        json_out(result, "-", args.force)
        return 0
    if args.json:
        json_out(result, args.json, args.force)
    sys.stdout.write(compare.format_table(result))
    return 0


def add_parser(sub):
    p = sub.add_parser("compare", help="compare two runs benchmark by benchmark",
                       epilog=EPILOG_COMPARE, formatter_class=FORMATTER,
                       description="Compare run B against run A (summaries or Google Benchmark "
                                   "JSON, both the same kind).")
    p.add_argument("a", metavar="A", help="the reference run (file or folder)")
    p.add_argument("b", metavar="B", help="the run compared with it (file or folder)")
    p.add_argument("--json", metavar="FILE", help="also write the comparison as JSON ('-': "
                                                  "JSON on stdout instead of the table)")
    p.add_argument("--alpha", type=COMPARE_ALPHA, default=0.05,
                   help="significance level of each one-sided test; the interval is the "
                        "matching 1 - 2 alpha one (default 0.05: 90%%)")
    p.add_argument("--margin", type=finite_fraction, default=0.05,
                   help="equivalence margin: 'no change' needs the whole interval within "
                        "+-margin, 'slower'/'faster' an estimate beyond it (default 0.05 = 5%%)")
    p.add_argument("--correction", choices=("bh", "none"), default="bh",
                   help="correction for comparing many benchmarks at once: bh (default: "
                        "Benjamini-Hochberg per direction, so an A/A pair flags nothing with "
                        "probability >= 1 - alpha) or none (per-row p: about 2 alpha of an A/A "
                        "pair's rows read changed by chance)")
    p.add_argument("--resamples", type=at_least(100, 1_000_000), default=20000,
                   help="random assignments of repetitions for the whole-run test when there are "
                        "more than 20000 possible (default 20000, at most 1000000); the "
                        "per-benchmark intervals are exact and use none")
    p.add_argument("--seed", type=at_least(0), default=20240601,
                   help="seed of those assignments (and of the choice of 50 repetitions a side "
                        "for the whole-run test when there are more)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    p.set_defaults(handler=run)
