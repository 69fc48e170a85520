#!/usr/bin/env python3
"""What change-point detection finds at a machine's noise level: planted steps, found or not.

Series of run-to-run values are drawn with the noise of a real machine and a step planted in
their middle (0% is the A/A case), and `changepoint.detect` is run on each, with the settings
`cvp history` uses. The noise is either lognormal of a given sigma, or (--noise-from) the
machine's own: the run folders of repeated runs of one suite on one machine give, for each
benchmark, the logs of its medians around their median; those residuals, pooled over the
benchmarks, are what the series are drawn from (so outliers and skew come along).

Counted per planted step:
  found        a change point within --tolerance runs (2) of the step, in its direction;
  found near   none that close, but one within --near runs (10), in its direction: the step,
               placed less precisely (a small step in noise has no sharp edge);
  missed       neither;
  false alarms the series that had any other change point (and how many there were);
  runs to find in CI use: how many runs after the step's first one the series had to grow
               before the step was found (a level needs min_size runs), median and 90th pct.

    python3 tools/changepoint_calibration.py --noise-from noise/run*/ --series 100
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))  # cvptools

import numpy as np  # noqa: E402

from cvptools import CvpError  # noqa: E402
from cvptools import changepoint  # noqa: E402
from cvptools import runio  # noqa: E402
from cvptools import results as res  # noqa: E402


def residuals_from_runs(paths, min_runs=4):
    """Pooled log residuals of each benchmark's medians around their median, and the robust
    sigma per benchmark (1.4826 MAD), from repeated runs of one machine."""
    by_name = {}
    for path in paths:
        run = runio.load_run(path)
        if run.format != runio.SUMMARY:
            raise CvpError(f"{run.path}: not a summary")
        for r in res.live_results(run):
            median = (r.get("wall_s") or {}).get("median")
            if isinstance(median, (int, float)) and median > 0:
                by_name.setdefault(res.result_name(r), []).append(float(median))
    pooled, sigmas = [], {}
    for name, values in by_name.items():
        if len(values) < min_runs:
            continue
        logs = np.log(values)
        centred = logs - np.median(logs)
        pooled.extend(centred.tolist())
        sigmas[name] = float(1.4826 * np.median(np.abs(centred)))
    if not pooled:
        raise CvpError(f"the runs give no benchmark measured in {min_runs} runs or more")
    return np.asarray(pooled), sigmas


def draw(rng, length, noise, pool):
    if pool is not None:
        return np.exp(rng.choice(pool, size=length))
    return np.exp(rng.normal(0.0, noise, size=length))


def calibrate(steps, series, length, noise=0.02, pool=None, seed=1, tolerance=2, near=10,
              p_value=0.01, min_size=3, latency=True):
    rows = []
    at = length // 2
    for step in steps:
        rng = np.random.default_rng([seed, int(round(step * 1000))])
        found = found_near = missed = false_series = false_total = 0
        to_find, errors = [], []
        start = time.perf_counter()
        for _ in range(series):
            x = draw(rng, length, noise, pool)
            if step:
                x[at:] *= 1.0 + step
            cps = changepoint.detect(x, p_value=p_value, min_size=min_size)
            way = "up" if step > 0 else "down"
            right = sorted((c for c in cps if step and c.direction == way
                            and abs(c.index - at) <= near), key=lambda c: abs(c.index - at))
            hit = right[:1]
            others = [c for c in cps if c not in hit]
            if hit and abs(hit[0].index - at) <= tolerance:
                found += 1
            elif hit:
                found_near += 1
            elif step:
                missed += 1
            if hit:
                errors.append(abs(hit[0].index - at))
            if others:
                false_series += 1
                false_total += len(others)
            if step and latency:
                for end in range(at + min_size, length + 1):
                    if any(abs(c.index - at) <= near and c.direction == "up"
                           for c in changepoint.detect(x[:end], p_value=p_value,
                                                       min_size=min_size)):
                        to_find.append(end - at)
                        break
        seconds = (time.perf_counter() - start) / series
        rows.append({"step": step, "series": series, "found": found, "found_near": found_near,
                     "missed": missed,
                     "false_alarm_series": false_series, "false_alarms": false_total,
                     "index_error_median": float(np.median(errors)) if errors else None,
                     "runs_to_find_median": float(np.median(to_find)) if to_find else None,
                     "runs_to_find_p90": float(np.percentile(to_find, 90)) if to_find else None,
                     "never_found_in_ci": (series - len(to_find)) if step and latency else None,
                     "ms_per_series": seconds * 1e3})
    return rows


def table(rows, length, what):
    out = [f"Series of {length} runs, step at run {length // 2}, noise: {what}.", "",
           "| step | series | found (within 2 runs) | found 3-10 runs away | missed | "
           "series with a false alarm (false alarms) | index error (median) | "
           "runs until found in CI: median / p90 (never) |",
           "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ci = ("-" if r["runs_to_find_median"] is None else
              f"{r['runs_to_find_median']:.0f} / {r['runs_to_find_p90']:.0f} "
              f"({r['never_found_in_ci']})")
        err = "-" if r["index_error_median"] is None else f"{r['index_error_median']:.0f}"
        found = "-" if not r["step"] else str(r["found"])
        near = "-" if not r["step"] else str(r["found_near"])
        missed = "-" if not r["step"] else str(r["missed"])
        out.append(f"| {r['step'] * 100:.0f}% | {r['series']} | {found} | {near} | {missed} | "
                   f"{r['false_alarm_series']} ({r['false_alarms']}) | {err} | {ci} |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 tools/changepoint_calibration.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--noise", type=float, default=0.02, help="lognormal sigma (default 0.02)")
    p.add_argument("--noise-from", nargs="+", metavar="RUN",
                   help="repeated runs of one machine: draw from their residuals instead")
    p.add_argument("--steps", default="0,3,5,10", help="planted steps in percent")
    p.add_argument("--series", type=int, default=100)
    p.add_argument("--length", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-latency", action="store_true", help="skip the runs-until-found count")
    p.add_argument("--list-noise", action="store_true",
                   help="with --noise-from: also list each benchmark's robust sigma")
    args = p.parse_args(argv)
    try:
        pool, what = None, f"lognormal, sigma {args.noise:g}"
        if args.noise_from:
            pool, sigmas = residuals_from_runs(args.noise_from)
            s = np.asarray(list(sigmas.values()))
            what = (f"the residuals of {len(args.noise_from)} runs of {len(sigmas)} benchmarks "
                    f"(robust sigma per benchmark: median {np.median(s):.4f}, 90th percentile "
                    f"{np.percentile(s, 90):.4f}; pooled {1.4826 * np.median(np.abs(pool)):.4f})")
        steps = [float(v) / 100 for v in args.steps.split(",")]
        rows = calibrate(steps, args.series, args.length, args.noise, pool, args.seed,
                         latency=not args.no_latency)
    except (CvpError, ValueError) as e:
        print(f"changepoint_calibration: error: {e}", file=sys.stderr)
        return 2
    print(table(rows, args.length, what))
    if args.noise_from and args.list_noise:
        print("\n| benchmark | run-to-run robust sigma |\n|---|---:|")
        for name in sorted(sigmas, key=sigmas.get):
            print(f"| `{name}` | {sigmas[name] * 100:.2f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
