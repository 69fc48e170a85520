"""Export summaries for dashboards: one series per benchmark and metric.

  gab-smaller  github-action-benchmark, tool `customSmallerIsBetter`: for cpu and memory
               results the wall time of one execution (ms: one matrix product, one triad
               sweep); for io results the time per request (wall time of the run / its
               requests, us) and the response-time percentiles p50/p95/p99 (us)
  gab-bigger   github-action-benchmark, tool `customBiggerIsBetter`: speedups (x, not for serial
               results) and throughputs (the result's own unit: GFLOP/s, GB/s, requests/s, a
               user workload's)
  bmf          Bencher Metric Format: {benchmark: {measure: {value, lower_value, upper_value}}}
               with `latency` (ns per execution, or per request), `latency-p50/-p95/-p99`
               (request response times, ns), `throughput` (operations/s, for units of work
               that are operations: FLOP and requests, GFLOP/s becoming FLOP/s; any other unit,
               GB/s of bytes for one, gets a measure of its own, `throughput-<unit>`, in its
               own unit) and `speedup` (x)

Kinds and units are read from the summary (each result's `kind`, `work` and `throughput.unit`,
the `workloads` list's units and rate scales), never from a workload's name: a user's own
workload of any name exports like the built-in ones. Summaries written before those fields fall
back to the built-in workloads (a request's count from `params.requests`).

Every entry is the median over the repetitions with the summary's interval, kept asymmetric:
BMF `lower_value`/`upper_value`; github-action-benchmark `range` "+a / -b" (never "±", which
would claim a symmetric interval) and the interval itself, named with its real coverage, in
`extra`. Times carry the order-statistic interval of the median (`wall_s.ci95`, whose coverage
is `wall_s.ci_coverage`: 94% with 5 repetitions, 75% with 3); a throughput carries the same
interval through work / time (monotone, so it maps exactly); a speedup its 95% bootstrap CI.
Values that are not finite are refused, never written.

Names and units leave cvp for readers that render them as Markdown without escaping them
(github-action-benchmark's comments put a name between single backticks in a table row and the
unit after it as plain text): every name passes text.export_name (control, escape and
bidirectional characters, the backtick and the pipe written \\uXXXX), every unit
text.export_label, and the free text of `extra` text.visible, piece by piece.

Blocks that cvpbench set aside as disturbed are counted in `extra` with the reasons the summary
records (`excluded_samples.reason`, and each block's own from `excluded_samples.reasons`): run
delay from other work, time stolen by the hypervisor, a CPU clock that moved, a stop of the
process, word for word.

The raw benchmark.json is not a one-series-per-benchmark file (every repetition is a row under
the same name, aggregates are rows of their own); see scripts/README.md, "Which file for which
dashboard".
"""

import math
import re

from . import CvpError
from .results import (attainable_bound, attainable_model, bounds_differ, efficiencies,
                      ideal_bound, live_results, result_name, result_work, singular, workloads)
from .text import export_label, export_name, visible

FORMATS = ("gab-smaller", "gab-bigger", "bmf")

# Throughput units that Bencher's built-in `throughput` measure (operations / second) can hold,
# with the factor to operations per second. A FLOP is the operation of matmul, a request that
# of the request workload. Used when the summary does not give the workload's rate scale.
_TO_OPS = {"gflop/s": 1e9, "mflop/s": 1e6, "flop/s": 1.0, "requests/s": 1.0, "req/s": 1.0,
           "ops/s": 1.0, "items/s": 1.0}
# Units of work that are operations (Bencher's `throughput`); bytes, for one, are not.
_OPERATIONS = {"flop", "flops", "requests", "request", "ops", "operations", "items"}
PERCENTILES = ("p50", "p95", "p99")
_BMF_MEASURE_MAX = 64  # Bencher: a measure's slug or name is at most 64 characters
_BMF_NAME_MAX = 1024   # Bencher: a benchmark name is at most 1024 characters


def _named_results(runs):
    seen = {}
    for run in runs:
        table = workloads(run)
        for r in live_results(run):
            r = dict(r, _workload=table.get(r.get("workload")))
            name = export_name(result_name(r))
            if name in seen:
                other = seen[name]
                where = "twice in it" if other == run.path else f"also in {other}"
                raise CvpError(f"{run.path}: benchmark {name!r} appears {where}; "
                               f"export one machine at a time")
            seen[name] = run.path
            yield run, name, r


def _number(run, name, what, value):
    """A finite number, else CvpError: dashboards must never receive NaN or Infinity."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CvpError(f"{run.path}: {name}: {what} is {value!r}, not a finite number; "
                       f"nothing exported")
    return float(value)


class _Quantity:
    """One metric of one benchmark: a value with an optional interval and the interval's name
    (its real coverage: the summary's `ci95` of a median of n samples covers 1 - 2^(1-n) when
    it is [min, max], 75% for 3 samples)."""

    def __init__(self, value, lo=None, hi=None, label="95% CI"):
        self.value, self.lo, self.hi, self.label = value, lo, hi, label

    def scaled(self, factor):
        return _Quantity(self.value * factor,
                         None if self.lo is None else self.lo * factor,
                         None if self.hi is None else self.hi * factor, self.label)

    @property
    def has_interval(self):
        return self.lo is not None and self.hi is not None


def _coverage_label(run, name, wall):
    """'93.75% CI' from wall_s.ci_coverage; None when the interval covers nothing (one sample)."""
    cov = wall.get("ci_coverage")
    if cov is None:
        return "95% CI"
    cov = _number(run, name, "wall_s.ci_coverage", cov)
    if cov <= 0:
        return None
    return f"{cov * 100:.4g}% CI"


def _requests(run, name, r):
    """Units of work in one execution of an io result: `work.per_execution`, else (older
    summaries) `params.requests` or `io.requests`."""
    _, n = result_work(r)
    if n is None:
        n = r.get("params", {}).get("requests", r.get("io", {}).get("requests"))
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or n <= 0:
        raise CvpError(f"{run.path}: {name}: a request result without a request count "
                       f"(work.per_execution or params.requests); cannot give the time per "
                       f"{_per(r)}")
    return float(n)


def _work_unit(r):
    """The result's unit of work: its `work.unit`, else its workload's, else None."""
    unit, _ = result_work(r)
    w = r.get("_workload")
    return unit or (w.work_unit if w is not None else None)


def _per(r):
    """What an io result's time is per: 'request', or one of the workload's own units (part of
    an entry's name, so written as names are)."""
    unit = _work_unit(r)
    return "request" if unit in (None, "requests", "request") else export_name(singular(unit))


def _execution_noun(r):
    """'product' for matmul in a summary written before results declared their work (what
    the exports always said), else 'execution'."""
    unit, _ = result_work(r)
    return "product" if unit is None and r.get("workload") == "matmul" else "execution"


def _execution_text(r):
    """'one execution (402,653,184 bytes)' / 'one product' (matmul in an older summary)."""
    unit, per = result_work(r)
    if unit and per:
        amount = f"{int(per):,}" if per.is_integer() and per < 1e18 else f"{per:.6g}"
        return f"one execution ({amount} {visible(unit)})"
    return f"one {_execution_noun(r)}"


def _time_per_unit(run, name, r):
    """Seconds per unit of work (one execution; one request for I/O), with the median's
    interval."""
    wall = r["wall_s"]
    med = _number(run, name, "wall_s.median", wall["median"])
    ci = wall.get("ci95")
    if not isinstance(ci, list) or len(ci) != 2:
        raise CvpError(f"{run.path}: {name}: wall_s.ci95 is not a pair [low, high]")
    lo = _number(run, name, "wall_s.ci95[0]", ci[0])
    hi = _number(run, name, "wall_s.ci95[1]", ci[1])
    if med <= 0:
        raise CvpError(f"{run.path}: {name}: a median wall time of {med!r} s is not a "
                       f"measurement; nothing exported")
    if not 0 <= lo <= med <= hi:
        raise CvpError(f"{run.path}: {name}: wall_s.ci95 [{lo!r}, {hi!r}] does not hold the "
                       f"median {med!r}")
    per = _requests(run, name, r) if r["kind"] == "io" else 1.0
    label = _coverage_label(run, name, wall)
    if label is None:
        return _Quantity(med / per), wall.get("samples", [])
    return _Quantity(med / per, lo / per, hi / per, label), wall.get("samples", [])


def _throughput(run, name, r, time):
    """The summary's throughput, its CI from the wall time's (work / time is monotone)."""
    tp = r["throughput"]
    value = _number(run, name, "throughput.value", tp["value"])
    unit = tp.get("unit")
    if not isinstance(unit, str) or not unit.strip():
        raise CvpError(f"{run.path}: {name}: throughput has no unit")
    if not time.has_interval or time.lo <= 0:
        return _Quantity(value), unit
    return _Quantity(value, value * time.value / time.hi, value * time.value / time.lo,
                     time.label), unit


def _speedup(run, name, r):
    """The speedup with its CI, or None for serial results and missing baselines."""
    sp = r["speedup"]
    if r["mode"] == "serial" or sp.get("baseline") in (None, "", "unavailable"):
        return None
    value = _number(run, name, "speedup.value", sp["value"])
    if value <= 0:  # no baseline was measured: 0 is a placeholder, not a speedup
        return None
    ci = sp.get("ci95")
    if not isinstance(ci, list) or len(ci) != 2:
        raise CvpError(f"{run.path}: {name}: speedup.ci95 is not a pair [low, high]")
    lo = _number(run, name, "speedup.ci95[0]", ci[0])
    hi = _number(run, name, "speedup.ci95[1]", ci[1])
    if lo > hi:
        raise CvpError(f"{run.path}: {name}: speedup.ci95 [{lo!r}, {hi!r}] is reversed")
    return _Quantity(value, lo, hi, "95% bootstrap CI")


def _percentiles(run, name, r):
    """{p50: us, ...} for request results; a percentile of 0 means none was recorded."""
    lat = r.get("latency_us") if r["kind"] == "io" else None
    if not isinstance(lat, dict):
        return {}
    out = {}
    for q in PERCENTILES:
        if q in lat:
            v = _number(run, name, f"latency_us.{q}", lat[q])
            if v > 0:
                out[q] = v
    return out


def _fmt(x):
    return f"{x:.4g}"


def _range(q):
    """github-action-benchmark's free-text `range`: '+above / -below' the median, asymmetric.
    A value outside its own interval (possible for a bootstrap CI) gets the interval instead."""
    if not q.has_interval:
        return None
    if q.lo <= q.value <= q.hi:
        return f"+{_fmt(q.hi - q.value)} / -{_fmt(q.value - q.lo)}"
    return f"{q.label} [{_fmt(q.lo)}, {_fmt(q.hi)}]"


def _ci_text(q, unit):
    if not q.has_interval:
        return "no interval (one sample)"
    return f"{q.label} [{_fmt(q.lo)}, {_fmt(q.hi)}]{' ' + unit if unit else ''}"


def _count(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def excluded_text(r):
    """'2 blocks set aside (disturbed blocks, set aside and measured again: other work kept
    our threads waiting for a CPU): threads waited 3.52 ms for a CPU beyond their usual 1.01 ms
    (8.2% of the block); ...': the blocks cvpbench kept out of the result, with the summary's
    own reason and each block's, word for word (a reason repeated is counted, 'x2'); '' when
    none was set aside."""
    excluded = r.get("excluded_samples")
    if not isinstance(excluded, dict) or not excluded.get("wall_s"):
        return ""
    reason = excluded.get("reason")
    reason = visible(reason) if isinstance(reason, str) and reason.strip() else \
        "no reason recorded"
    counts = {}
    for each in excluded.get("reasons") or []:
        if isinstance(each, str) and each.strip():
            counts[each] = counts.get(each, 0) + 1
    each = "; ".join(visible(k) + (f" (x{n})" if n > 1 else "") for k, n in counts.items())
    n = len(excluded["wall_s"])
    return (f"{n} {'block' if n == 1 else 'blocks'} set aside ({reason})"
            + (f": {each}" if each else ""))


def _reps_text(r, samples):
    text = f"median of {_count(len(samples), 'repetition')}"
    excluded = excluded_text(r)
    return f"{text}; {excluded}" if excluded else text


def _setup(r):
    return (f"mode {visible(r['mode'])}, backend {visible(r['backend'])}, "
            f"{_count(r['threads'], 'thread')}, {r['in_flight']} in flight, "
            f"{_count(r['cores'], 'core')}")


def _gab_entry(name, unit, q, extra):
    entry = {"name": export_name(name), "unit": export_label(unit), "value": q.value}
    rng = _range(q)
    if rng is not None:
        entry["range"] = rng
    entry["extra"] = extra
    return entry


def gab_smaller(runs):
    out = []
    for run, name, r in _named_results(runs):
        time, samples = _time_per_unit(run, name, r)
        reps = _reps_text(r, samples)
        if r["kind"] == "io":
            n = _requests(run, name, r)
            n_text = f"{n:.0f}" if n.is_integer() else f"{n:.6g}"
            per = _per(r)
            q = time.scaled(1e6)
            out.append(_gab_entry(f"{name} time per {per}", "us", q,
                                  f"wall time of a run of {n_text} {per}s, divided by {n_text}; "
                                  f"{reps}; {_ci_text(q, 'us')}\n{_setup(r)}"))
            for p, v in _percentiles(run, name, r).items():
                out.append({"name": export_name(f"{name} latency {p}"), "unit": "us",
                            "value": v,
                            "extra": f"{p} of the response times of every request of every "
                                     f"repetition (issue to response, queueing included)\n"
                                     f"{_setup(r)}"})
        else:
            q = time.scaled(1e3)
            out.append(_gab_entry(f"{name} wall time", "ms", q,
                                  f"wall time of {_execution_text(r)}; {reps}; "
                                  f"{_ci_text(q, 'ms')}\n{_setup(r)}"))
    return out


def _baseline_text(r, by_name):
    """'baseline NAME (time per unit of work)' as far as the summary tells."""
    sp = r["speedup"]
    text = f"baseline {export_name(sp['baseline'])}"
    base = by_name.get(export_name(sp["baseline"]))
    wall = sp.get("baseline_wall_s")
    if not isinstance(wall, (int, float)) or isinstance(wall, bool) or not math.isfinite(wall) \
            or wall <= 0:
        return text
    if r["kind"] != "io":
        return f"{text} ({_fmt(wall * 1e3)} ms)"
    n = None
    if base:
        _, n = result_work(base)
        n = n if n is not None else base.get("params", {}).get("requests")
    if isinstance(n, (int, float)) and not isinstance(n, bool) and n > 0:
        return f"{text} ({_fmt(wall / n * 1e6)} us per {_per(r)})"
    return text


def _bound_model_text(r):
    model = r.get("bound_model")
    if not isinstance(model, str) or not model.strip():
        w = r.get("_workload")
        model = w.bound_model if w is not None else ""
    return f" ({visible(' '.join(model.split()))})" if model else ""


def _bounds_text(r):
    """'bound 2 (model)', or where the attainable bound and the ideal differ by more than 1%,
    'attainable bound 1.52 (its model); ideal 2 (model)'."""
    ideal = f"{ideal_bound(r):g}{_bound_model_text(r)}"
    if not bounds_differ(r):
        return f"bound {ideal}"
    model = attainable_model(r)
    model = f" ({visible(' '.join(model.split()))})" if model else ""
    return f"attainable bound {attainable_bound(r):.3g}{model}; ideal {ideal}"


def gab_bigger(runs):
    out = []
    named = list(_named_results(runs))
    by_name = {name: r for _, name, r in named}
    for run, name, r in named:
        time, samples = _time_per_unit(run, name, r)
        sp = _speedup(run, name, r)
        if sp is not None:
            out.append(_gab_entry(f"{name} speedup", "x", sp,
                                  f"{_ci_text(sp, '')}; {_baseline_text(r, by_name)}; "
                                  f"{_bounds_text(r)}; per "
                                  f"{_per(r) if r['kind'] == 'io' else _execution_noun(r)}\n"
                                  f"{_setup(r)}"))
        tp, unit = _throughput(run, name, r, time)
        out.append(_gab_entry(f"{name} throughput", unit, tp,
                              f"{_reps_text(r, samples)}; {_ci_text(tp, export_label(unit))}\n"
                              f"{_setup(r)}"))
    return out


def _slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unit"


def _metric(q):
    m = {"value": q.value}
    if q.has_interval:
        m["lower_value"], m["upper_value"] = q.lo, q.hi
    return m


def _ops_scale(r, unit):
    """The factor from the result's throughput unit to operations per second (Bencher's
    `throughput`), or None when its work is not operations. From the summary's workloads list
    when it gives the rate's unit and scale: work that is operations (FLOP, requests) times
    rate_scale (1e9 for GFLOP/s); bytes and other units are not operations. Else the
    fallback table of known rate units."""
    w = r.get("_workload")
    work = _work_unit(r)
    if w is not None and w.rate_scale and w.rate_unit == unit and work:
        return w.rate_scale if work.strip().lower() in _OPERATIONS else None
    if work and work.strip().lower() not in _OPERATIONS:
        return None
    return _TO_OPS.get(unit.strip().lower())


def bmf(runs):
    out = {}
    for run, name, r in _named_results(runs):
        if len(name) > _BMF_NAME_MAX:
            raise CvpError(f"{run.path}: benchmark name longer than {_BMF_NAME_MAX} characters, "
                           f"which Bencher refuses: {name[:60]}...")
        time, _ = _time_per_unit(run, name, r)
        measures = {"latency": _metric(time.scaled(1e9))}
        for p, v in _percentiles(run, name, r).items():
            measures[f"latency-{p}"] = {"value": v * 1e3}
        tp, unit = _throughput(run, name, r, time)
        scale = _ops_scale(r, unit)
        if scale is not None:
            measures["throughput"] = _metric(tp.scaled(scale))
        else:
            slug = f"throughput-{_slug(unit)}"[:_BMF_MEASURE_MAX].rstrip("-")
            measures[slug] = _metric(tp)
        sp = _speedup(run, name, r)
        if sp is not None:
            measures["speedup"] = _metric(sp)
            against_attainable, against_ideal = efficiencies(r)
            if against_attainable is not None:
                measures["efficiency"] = {"value": against_attainable}
            if against_ideal is not None:
                measures["efficiency-ideal"] = {"value": against_ideal}
        out[name] = measures
    return out


def _check_finite(doc, path):
    """Every number in the document is finite (the builders guarantee it; this is the proof)."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, float) and not math.isfinite(node):
            raise CvpError(f"{path}: a value to export is {node!r}, not a finite number; "
                           f"nothing exported")


def export(runs, fmt):
    if fmt not in FORMATS:
        raise CvpError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    doc = {"gab-smaller": gab_smaller, "gab-bigger": gab_bigger, "bmf": bmf}[fmt](runs)
    paths = ", ".join(r.path for r in runs)
    if not doc:
        raise CvpError(f"{paths}: no results to export")
    _check_finite(doc, paths)
    return doc
