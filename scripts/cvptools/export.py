"""Export summaries for dashboards.

  gab-smaller  github-action-benchmark, tool `customSmallerIsBetter`: wall times (ms) and, for
               I/O results, p50/p95/p99 latency (us)
  gab-bigger   github-action-benchmark, tool `customBiggerIsBetter`: speedups (x, not for serial
               results) and throughputs (the result's unit)
  bmf          Bencher Metric Format: {benchmark: {measure: {value, lower_value, upper_value}}}
               with `latency` (wall time in ns, as Bencher's built-in measure), `throughput`
               (operations/s: GFLOP/s becomes FLOP/s; other units get their own measure,
               `throughput-<unit>`) and `speedup` (x, with its 95% CI)

Raw Google Benchmark JSON needs no export: both tools read it directly (tool `googlecpp` in
github-action-benchmark, adapter `cpp_google` in Bencher).
"""

import re

from . import CvpError
from .results import live_results, result_name

FORMATS = ("gab-smaller", "gab-bigger", "bmf")
_TO_OPS = {"gflop/s": 1e9, "mflop/s": 1e6, "flop/s": 1.0, "requests/s": 1.0, "req/s": 1.0,
           "ops/s": 1.0, "items/s": 1.0}


def _named_results(runs):
    seen = {}
    for run in runs:
        for r in live_results(run):
            name = result_name(r)
            if name in seen:
                other = seen[name]
                where = "twice in it" if other == run.path else f"also in {other}"
                raise CvpError(f"{run.path}: benchmark {name!r} appears {where}; "
                               f"export one machine at a time")
            seen[name] = run.path
            yield name, r


def _range(lo, hi, scale=1.0):
    return f"± {(hi - lo) * scale / 2:.4g}"


def gab_smaller(runs):
    out = []
    for name, r in _named_results(runs):
        wall = r["wall_s"]
        lo, hi = wall["ci95"]
        out.append({"name": f"{name} wall time", "unit": "ms", "value": wall["median"] * 1e3,
                    "range": _range(lo, hi, 1e3),
                    "extra": f"median of {len(wall['samples'])} samples; 95% CI "
                             f"[{lo * 1e3:.4g}, {hi * 1e3:.4g}] ms"})
        lat = r.get("latency_us")
        if r["kind"] == "io" and lat:
            for q in ("p50", "p95", "p99"):
                out.append({"name": f"{name} latency {q}", "unit": "us", "value": lat[q]})
    return out


def gab_bigger(runs):
    out = []
    for name, r in _named_results(runs):
        sp = r["speedup"]
        if r["mode"] != "serial":
            lo, hi = sp["ci95"]
            base = sp.get("baseline_wall_s")
            base_text = f" ({base * 1e3:.4g} ms)" if isinstance(base, (int, float)) else ""
            out.append({"name": f"{name} speedup", "unit": "x", "value": sp["value"],
                        "range": _range(lo, hi),
                        "extra": f"95% CI [{lo:.4g}, {hi:.4g}]; baseline {sp['baseline']}"
                                 f"{base_text}; bound {r['bound']:g}"})
        out.append({"name": f"{name} throughput", "unit": r["throughput"]["unit"],
                    "value": r["throughput"]["value"]})
    return out


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unit"


def bmf(runs):
    out = {}
    for name, r in _named_results(runs):
        wall = r["wall_s"]
        measures = {"latency": {"value": wall["median"] * 1e9,
                                "lower_value": wall["ci95"][0] * 1e9,
                                "upper_value": wall["ci95"][1] * 1e9}}
        unit = r["throughput"]["unit"]
        scale = _TO_OPS.get(unit.lower())
        if scale is not None:
            measures["throughput"] = {"value": r["throughput"]["value"] * scale}
        else:
            measures[f"throughput-{_slug(unit)}"] = {"value": r["throughput"]["value"]}
        if r["mode"] != "serial":
            sp = r["speedup"]
            measures["speedup"] = {"value": sp["value"], "lower_value": sp["ci95"][0],
                                   "upper_value": sp["ci95"][1]}
        out[name] = measures
    return out


def export(runs, fmt):
    if fmt not in FORMATS:
        raise CvpError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    doc = {"gab-smaller": gab_smaller, "gab-bigger": gab_bigger, "bmf": bmf}[fmt](runs)
    if not doc:
        raise CvpError(f"{', '.join(r.path for r in runs)}: no results to export")
    return doc
