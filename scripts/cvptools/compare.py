"""Compare two runs benchmark by benchmark: ratio of medians B/A with a bootstrap 95% CI and
one-sided Mann-Whitney tests on log times; a geometric mean of the ratios as a secondary figure.
"""

import math

from . import stats
from .results import samples_by_name

SECONDARY_NOTE = ("geometric mean of per-benchmark ratios (secondary: it weighs every benchmark "
                  "alike; read the table first)")


def format_seconds(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _p(p):
    return "n/a" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def compare_runs(run_a, run_b, alpha=0.05, resamples=stats.DEFAULT_RESAMPLES,
                 seed=stats.DEFAULT_SEED):
    """A plain dict (JSON-ready) describing B relative to A."""
    a_all, b_all = samples_by_name(run_a), samples_by_name(run_b)
    rows = []
    for name, a in a_all.items():
        if name not in b_all:
            continue
        b = b_all[name]
        row = {"name": name, "kind": a.kind, "n_a": len(a.values), "n_b": len(b.values),
               "median_a_s": a.median, "median_b_s": b.median}
        if a.median <= 0 or b.median <= 0 or any(v <= 0 for v in a.values + b.values):
            row.update(ratio=None, ci95=None, p_slower=None, p_faster=None,
                       verdict="not compared (a time of zero)")
            rows.append(row)
            continue
        if a.values and b.values:
            # The point estimate uses the files' medians (a summary's median may rest on more
            # data than its listed samples); the CI comes from resampling the samples.
            _, ci = stats.ratio_of_medians_ci(a.values, b.values, resamples=resamples, seed=seed)
            both = len(a.values) > 1 and len(b.values) > 1
            row.update(ratio=b.median / a.median, ci95=list(ci) if both else None,
                       p_slower=stats.slower_p_value(a.values, b.values),
                       p_faster=stats.faster_p_value(a.values, b.values))
        else:
            row.update(ratio=b.median / a.median, ci95=None, p_slower=None, p_faster=None)
        if row["p_slower"] is not None and row["p_slower"] < alpha and row["ratio"] > 1:
            row["verdict"] = "slower"
        elif row["p_faster"] is not None and row["p_faster"] < alpha and row["ratio"] < 1:
            row["verdict"] = "faster"
        elif row["p_slower"] is None:
            row["verdict"] = "untested (no samples)"
        else:
            row["verdict"] = "no significant change"
        rows.append(row)
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    return {
        "a": run_a.path, "b": run_b.path, "alpha": alpha,
        "method": ("ratio of medians B/A; 95% CI by percentile bootstrap (resampling A and B "
                   f"separately, {resamples} resamples, seed {seed}); one-sided Mann-Whitney U "
                   "on log times; p-values are not corrected for multiple comparisons"),
        "benchmarks": rows,
        "only_in_a": [n for n in a_all if n not in b_all],
        "only_in_b": [n for n in b_all if n not in a_all],
        "geomean_ratio": stats.geometric_mean(ratios) if ratios else None,
        "geomean_note": SECONDARY_NOTE,
    }


def format_table(result):
    header = ["benchmark", "A median", "B median", "B/A", "95% CI", "p(slower)", "p(faster)",
              "verdict"]
    lines = []
    for r in result["benchmarks"]:
        ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}"
        ci = "n/a" if not r["ci95"] else f"[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
        lines.append([r["name"], format_seconds(r["median_a_s"]), format_seconds(r["median_b_s"]),
                      ratio, ci, _p(r["p_slower"]), _p(r["p_faster"]), r["verdict"]])
    widths = [max(len(str(row[i])) for row in [header] + lines) for i in range(len(header))]
    out = [f"A: {result['a']}", f"B: {result['b']}", ""]
    fmt = "  ".join("{:<%d}" % w if i in (0, 7) else "{:>%d}" % w for i, w in enumerate(widths))
    out.append(fmt.format(*header).rstrip())
    out.append("  ".join("-" * w for w in widths))
    out += [fmt.format(*row).rstrip() for row in lines]
    out.append("")
    if result["geomean_ratio"] is not None:
        out.append(f"{result['geomean_note']}: {result['geomean_ratio']:.3f}")
    for side in ("only_in_a", "only_in_b"):
        if result[side]:
            out.append(f"{side.replace('_', ' ')}: {', '.join(result[side])}")
    out.append(f"method: {result['method']}")
    return "\n".join(out) + "\n"
