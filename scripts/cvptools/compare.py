"""Compare two runs benchmark by benchmark, like with like.

What is compared: the time per unit of work: per timed execution (one matrix product, one
triad sweep, one execution of a user's workload), and for io workloads per unit of their work
(per request: the wall time of an execution covers every request of it), matched by name with
any `/requests:N` segment left out, so runs that sized their request counts differently still
meet, and say so. The kind and the unit of work come from the file (a summary's `kind` and
`work`, a raw file's `cvpbench_workload_kinds` and `cvpbench_work_units`); files written before
those fields fall back to the built-in workloads' names. When A and B ran on different machines
the rows read as throughput (work per second, in the workload's own rate unit) beside each
machine's own speedups, never as raw times.

How: for each benchmark the Hodges-Lehmann estimate of B/A (the median of all pairwise ratios
B_j/A_i of the per-unit times) with its exact distribution-free interval from the Mann-Whitney
distribution, and the exact one-sided p-values that agree with it, corrected across the rows
(Benjamini-Hochberg, per direction). The verdict uses an equivalence margin: "no change" only
when the whole interval lies within +-margin, "slower"/"faster" when the corrected p <= alpha and
the estimate is beyond the margin, "inconclusive" otherwise, saying why. A rank test on n vs m
samples cannot give a p below 1/C(n+m, n): when that is above alpha the row is "untestable" and
says how many repetitions it needs, and the result states, per sample size, what its verdicts
can mean (the floor p, how many rows must move together, the repetitions a lone row needs).
"""

import math
import re
import statistics
from dataclasses import dataclass, field

import numpy as np

from . import CvpError
from . import stats
from .runio import SUMMARY
from .results import (cluster_hosts, cluster_of, context_kinds, context_units, gbench_groups,
                      kind_of_name, live_results,
                      result_name, result_work, singular, workload_of_name, workloads)
from .text import visible

SECONDARY_NOTE = ("geometric mean of per-benchmark ratios (secondary: it weighs every benchmark "
                  "alike; read the table first)")
DEFAULT_MARGIN = 0.05

_REQUESTS_SEGMENT = re.compile(r"/requests:([0-9]+)(?=/|$)")
_N_SEGMENT = re.compile(r"(?:^|/)n:([0-9]+)(?=/|$)")
_LOG_LIMIT = math.log(1e100)  # beyond this a ratio is not a measurement (and exp overflows)


def format_seconds(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _p(p, floor=None):
    if p is None:
        return "n/a"
    if p == 0.0:
        return "<1e-300"  # below the smallest float: 1/C(m+n, m) from ~515 samples a side
    text = f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
    if floor and p <= floor * (1 + 1e-9):
        text += "*"  # the smallest p this sample size can give
    return text


def _pct(fraction):
    return f"{100 * fraction:.3g}%"


# --- what each run measured, per unit of work -------------------------------------------------

def work_key(name):
    """A benchmark's name without its `/requests:N` segment: the same benchmark whatever the
    request count it ran with (old names have no such segment)."""
    return _REQUESTS_SEGMENT.sub("", name)


def requests_in_name(name):
    found = _REQUESTS_SEGMENT.search(name)
    return int(found.group(1)) if found else None


@dataclass
class Measured:
    """One benchmark of one run. `times` are whole-iteration wall times (seconds); `per_unit`
    the same divided by the work of one iteration (its units of work, e.g. requests, for io;
    1 otherwise); both numpy arrays (a summary may hold millions of samples)."""
    name: str
    key: str
    kind: str
    # What `per_unit` is per: "request" (io: one unit of its work, see work_unit), "execution"
    # (one timed execution, its work declared by the file), "product" (matmul in a file
    # written before work was declared) or "run" (an execution of unknown work).
    unit: str
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    median_s: float = 0.0
    work: int = None               # units of work per iteration (io), None when unknown or n/a
    work_source: str = ""
    work_unit: str = None          # the workload's unit of work: "FLOP", "bytes", "requests"...
    work_per_execution: float = None  # units of work in one execution, when the file says
    per_unit: np.ndarray = field(default_factory=lambda: np.zeros(0))
    median: float = 0.0            # median time per unit of work
    throughput: np.ndarray = field(default_factory=lambda: np.zeros(0))
    throughput_median: float = None
    throughput_unit: str = None
    speedup: dict = None           # the file's own speedup {value, ci95, baseline}, if any


def _finite_positive(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _unit_of(kind, name, declared_unit=None):
    """io rows per unit of work; others per execution, whose work the file declares (else the
    fallback for older files: per matrix product for matmul, per run otherwise)."""
    if kind == "io":
        return "request"
    if declared_unit:
        return "execution"
    return "product" if workload_of_name(name) == "matmul" else "run"


def _count(x):
    """A count of work as an int when it is one (120.0 -> 120), else the number."""
    return int(x) if float(x).is_integer() else float(x)


def _normalise(m):
    """Fill per_unit and median from times and work."""
    scale = m.work if (m.unit == "request" and m.work) else 1
    m.times = np.asarray(m.times, dtype=float)
    m.per_unit = m.times / scale if scale != 1 else m.times
    m.median = m.median_s / scale
    return m


def _from_summary(run):
    out = {}
    table = workloads(run)
    for r in live_results(run):
        name = result_name(r)
        w = table.get(r.get("workload"))
        kind = r.get("kind") or (w.kind if w else kind_of_name(name))
        work_unit, per_execution = result_work(r)
        declared = work_unit or (w.work_unit if w is not None and w.declared else None)
        wall = r["wall_s"]
        m = Measured(name=name, key=work_key(name), kind=kind,
                     unit=_unit_of(kind, name, declared),
                     times=np.asarray(wall.get("samples", []), dtype=float),
                     median_s=float(wall["median"]),
                     work_unit=declared or (w.work_unit if w is not None else None),
                     work_per_execution=per_execution)
        if m.unit == "request":
            requests = (r.get("params") or {}).get("requests")
            if per_execution:
                m.work, m.work_source = _count(per_execution), "work.per_execution"
            elif _finite_positive(requests):
                m.work, m.work_source = int(requests), "params.requests"
            elif requests_in_name(name):
                m.work, m.work_source = requests_in_name(name), "name"
            else:
                m.unit = "run"
        _normalise(m)
        tp = r.get("throughput") or {}
        if _finite_positive(tp.get("value")) and m.median_s > 0:
            # throughput = work / time: each sample's is the median's scaled by median / time
            m.throughput_unit = str(tp.get("unit", ""))
            m.throughput_median = float(tp["value"])
            times = m.times[m.times > 0]
            m.throughput = m.throughput_median * m.median_s / times
        sp = r.get("speedup")
        if isinstance(sp, dict) and _finite_positive(sp.get("value")):
            m.speedup = {"value": float(sp["value"]), "ci95": sp.get("ci95"),
                         "baseline": sp.get("baseline")}
        _add(out, m, run)
    return out


def _from_gbench(run):
    out = {}
    kinds, units, table = context_kinds(run), context_units(run), workloads(run)
    for name, (times, rows, median_s) in gbench_groups(run).items():
        kind = kind_of_name(name, kinds)
        w = table.get(workload_of_name(name))
        declared = units.get(workload_of_name(name))
        m = Measured(name=name, key=work_key(name), kind=kind,
                     unit=_unit_of(kind, name, declared), times=times, median_s=median_s,
                     work_unit=declared or (w.work_unit if w is not None else None))
        # cvpbench's work counter, e.g. FLOP/s, bytes/s, requests/s: work * iterations /
        # measured time, so that per iteration, work = counter * real_time.
        counter = f"{m.work_unit or 'requests'}/s"
        if m.unit == "request":
            rps = [b.get(counter) for b in rows]
            if requests_in_name(name):
                m.work, m.work_source = requests_in_name(name), "name"
            elif rows and all(_finite_positive(x) for x in rps):
                counts = {round(x * t) for x, t in zip(rps, times)}
                if len(counts) == 1 and min(counts) > 0:
                    m.work, m.work_source = counts.pop(), f"{counter} counter"
            if not m.work:
                m.unit = "run"
        _normalise(m)
        rate_unit = w.rate_unit if w is not None and w.rate_unit else f"{counter}"
        scale = w.rate_scale if w is not None and w.rate_scale else 1.0
        if rows:
            if m.unit == "request":
                m.throughput = np.array([m.work / t / scale for t in times if t > 0])
                m.throughput_unit = rate_unit
            elif declared and all(_finite_positive(b.get(counter)) for b in rows):
                m.throughput = np.array([float(b[counter]) / scale for b in rows])
                m.throughput_unit = rate_unit
            elif all(_finite_positive(b.get("FLOP/s")) for b in rows):
                m.throughput = np.array([float(b["FLOP/s"]) / 1e9 for b in rows])
                m.throughput_unit = "GFLOP/s"
            elif m.unit == "product" and _N_SEGMENT.search(name):
                n = int(_N_SEGMENT.search(name).group(1))
                m.throughput = np.array([2.0 * n ** 3 / t / 1e9 for t in times if t > 0])
                m.throughput_unit = "GFLOP/s"
            if len(m.throughput):
                m.throughput_median = float(np.median(m.throughput))
        _add(out, m, run)
    if not out:
        raise CvpError(f"{run.path}: no benchmark results in it")
    return out


def _add(out, m, run):
    if m.key in out:
        other = out[m.key].name
        what = (f"benchmark {m.name!r} appears twice" if other == m.name else
                f"benchmarks {other!r} and {m.name!r} differ only in their request count")
        raise CvpError(f"{run.path}: {what}")
    out[m.key] = m


def measured(run):
    """{work key: Measured} for either format."""
    return _from_summary(run) if run.format == SUMMARY else _from_gbench(run)


# --- the machines ------------------------------------------------------------------------------

def _plain(value):
    """A field of a machine description as JSON-safe text or integer (None otherwise)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        return " ".join(value.split()) or None
    return None


def machine_info(run):
    """What identifies the machine a run came from (None where the file does not say). A
    distributed run's machine is its cluster: `hosts` is the sorted set of its ranks' hosts
    (`machine.cluster.hosts`), None for a run on one machine; `ranks` how many it ran."""
    if run.format == SUMMARY:
        m = run.doc.get("machine")
        m = m if isinstance(m, dict) else {}
        allowed = m.get("allowed_cpus")
        cluster = cluster_of(run.doc)
        return {"cpu_model": _plain(m.get("cpu_model")),
                "physical_cores": _plain(m.get("physical_cores")),
                "logical_cpus": _plain(m.get("logical_cpus")),
                "allowed_cpus": _cpu_list(allowed) if isinstance(allowed, list) else None,
                "allowed_cores": _plain(m.get("allowed_cores")), "host": _plain(m.get("host")),
                "hosts": cluster_hosts(run.doc),
                "ranks": _plain(cluster.get("ranks")) if cluster else None}
    ctx = run.doc.get("context")
    ctx = ctx if isinstance(ctx, dict) else {}
    return {"cpu_model": None, "physical_cores": None, "logical_cpus": _plain(ctx.get("num_cpus")),
            "allowed_cpus": _plain(ctx.get("cvpbench_allowed_cpus")),
            "allowed_cores": None, "host": _plain(ctx.get("host_name")), "hosts": None,
            "ranks": None}


def _cpu_list(cpus):
    """[0, 1, 2, 5] -> '0-2,5'."""
    if not cpus or not all(isinstance(c, int) and not isinstance(c, bool) for c in cpus):
        return None
    cpus = sorted(cpus)
    parts, i = [], 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        parts.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(parts)


_MACHINE_FIELDS = ("cpu_model", "physical_cores", "logical_cpus", "allowed_cpus", "host")
# A cluster is one machine: the set of its hosts and the CPU model. Rank 0's own CPU counts and
# allowed CPUs follow from how the launcher placed the ranks, not from which machine it was.
_CLUSTER_FIELDS = ("cpu_model", "hosts")


def machine_differences(a, b):
    """The identifying fields that both runs record and that differ. When either run is a
    cluster's (a distributed run), its identity is the sorted set of its hosts and its CPU
    model: two runs on the same hosts are one machine, and a cluster is never the same machine
    as a run on one machine (which records no hosts)."""
    if a.get("hosts") is not None or b.get("hosts") is not None:
        return [f for f in _CLUSTER_FIELDS
                if a.get(f) != b.get(f) and (f == "hosts" or (a.get(f) is not None
                                                             and b.get(f) is not None))]
    return [f for f in _MACHINE_FIELDS
            if a.get(f) is not None and b.get(f) is not None and a[f] != b[f]]


def machine_text(info):
    cpu = info.get("cpu_model") or "CPU model not recorded"
    parts = []
    if info.get("physical_cores") is not None:
        parts.append(f"{info['physical_cores']} cores")
    if info.get("logical_cpus") is not None:
        parts.append(f"{info['logical_cpus']} logical CPUs")
    if info.get("allowed_cpus") is not None:
        parts.append(f"allowed CPUs {info['allowed_cpus']}")
    host = info.get("host")
    if info.get("hosts") is not None:
        ranks = info.get("ranks")
        return (f"{cpu}, a cluster of {ranks or '?'} ranks on host(s) {info['hosts']} "
                f"(rank 0: {', '.join(parts) or 'cores not recorded'})")
    return f"{cpu}, {', '.join(parts) or 'cores not recorded'}, host {host or 'unknown'}"


# --- the comparison ----------------------------------------------------------------------------

CORRECTIONS = ("bh", "none")


def _verdict(row, alpha, margin, cross, m):
    """The row's verdict from its interval, its estimate and its corrected p-values."""
    up, down, same = (("higher throughput", "lower throughput", "same throughput") if cross
                      else ("slower", "faster", "no change"))
    if cross:  # throughput B/A = 1 / (time B/A): "slower" reads "lower throughput"
        up, down = down, up
    est, (lo, hi) = row["ratio"], row["ci"]
    band_hi, band_lo = 1.0 + margin, 1.0 / (1.0 + margin)
    within = f"within +-{_pct(margin)}"
    if row["p_slower_adj"] <= alpha:
        return (up, "slower") if est >= band_hi else (f"{up}, {within}", None)
    if row["p_faster_adj"] <= alpha:
        return (down, "faster") if est <= band_lo else (f"{down}, {within}", None)
    if band_lo <= lo and hi <= band_hi:
        return f"{same} ({within})", "same"
    if lo > 1.0 or hi < 1.0:  # significant in this row alone, not across the rows
        p_row = min(row["p_slower"], row["p_faster"])
        p_all = min(row["p_slower_adj"], row["p_faster_adj"])
        return (f"inconclusive (p {_p(p_row)} in this row, {_p(p_all)} across {m} rows)",
                "inconclusive")
    return f"inconclusive (CI beyond +-{_pct(margin)})", "inconclusive"


def _row(a, b, alpha):
    row = {"name": a.name, "key": a.key, "kind": a.kind, "unit": a.unit,
           "work_unit": a.work_unit if a.work_unit == b.work_unit else None,
           "n_a": len(a.per_unit), "n_b": len(b.per_unit),
           "median_a_s": a.median_s, "median_b_s": b.median_s,
           "work_a": a.work, "work_b": b.work,
           "work_per_execution_a": a.work_per_execution,
           "work_per_execution_b": b.work_per_execution,
           "per_unit_a_s": a.median, "per_unit_b_s": b.median,
           "throughput_unit": a.throughput_unit if a.throughput_unit == b.throughput_unit else None,
           "throughput_a": a.throughput_median, "throughput_b": b.throughput_median,
           "speedup_a": a.speedup, "speedup_b": b.speedup,
           "ratio": None, "ratio_of_medians": None, "ci": None, "ci_coverage": None,
           "throughput_ratio": None, "throughput_ci": None,
           "p_slower": None, "p_faster": None, "p_slower_adj": None, "p_faster_adj": None,
           "min_p": None, "resolution": None,
           "change": None, "notes": []}
    if b.name != a.name:
        row["name_b"] = b.name
    a_vals, b_vals, a_med, b_med = a.per_unit, b.per_unit, a.median, b.median
    row["same_work"] = True
    if (a.unit == "request") != (b.unit == "request"):
        row["unit"], row["same_work"] = "run", None
        row["notes"].append("request count known for one side only: whole-run times compared "
                            "(the same work only if both ran the same number of requests)")
        a_vals, b_vals, a_med, b_med = a.times, b.times, a.median_s, b.median_s
    elif a.unit == "request" and a.work != b.work:
        row["same_work"] = False
        row["notes"].append(f"not the same work: A ran {a.work} requests, B {b.work}; compared "
                            f"per request")
    elif a.unit == "run" and a.kind == "io":
        row["same_work"] = None
        row["notes"].append("request count unknown: whole-run times compared (the same work "
                            "only if both ran the same number of requests)")
    elif a.unit != "request" and a.work_per_execution and b.work_per_execution \
            and a.work_per_execution != b.work_per_execution:
        row["same_work"] = False
        unit = f" {a.work_unit}" if a.work_unit and a.work_unit == b.work_unit else ""
        row["notes"].append(f"not the same work: an execution does {a.work_per_execution:g}{unit} "
                            f"in A, {b.work_per_execution:g}{unit} in B; compared per execution")
    if a_med > 0 and b_med > 0 and abs(math.log(b_med) - math.log(a_med)) <= _LOG_LIMIT:
        row["ratio_of_medians"] = b_med / a_med
    a_vals, b_vals = np.asarray(a_vals, dtype=float), np.asarray(b_vals, dtype=float)
    if a_med <= 0 or b_med <= 0 or np.any(a_vals <= 0) or np.any(b_vals <= 0):
        row["verdict"] = "not compared (a time of zero)"
        return row
    if not a_vals.size or not b_vals.size:
        row["ratio"] = row["ratio_of_medians"]
        row["verdict"] = "untested (no samples)"
        return row
    la, lb = np.log(a_vals), np.log(b_vals)
    if lb.max() - la.min() > _LOG_LIMIT or la.max() - lb.min() > _LOG_LIMIT:
        row["verdict"] = "not compared (times differ by more than 1e100 times)"
        return row
    res = stats.shift_interval(la, lb, alpha)
    est = math.exp(res["estimate"])
    row.update(ratio=est, p_slower=res["p_up"], p_faster=res["p_down"], min_p=res["min_p"],
               _logs=(la, lb))
    if res["lower"] is None:
        need = stats.rank_repetitions_needed(alpha)
        row["verdict"] = (f"untestable at n={res['m']} vs {res['n']} (smallest p "
                          f"{_p(res['min_p'])} > alpha; needs >= {need} repetitions a side)")
        row["change"] = "untestable"
        return row
    lo, hi = math.exp(res["lower"]), math.exp(res["upper"])
    row.update(ci=[lo, hi], ci_coverage=res["coverage"],
               resolution=math.expm1((res["upper"] - res["lower"]) / 2.0),
               throughput_ratio=1.0 / est, throughput_ci=[1.0 / hi, 1.0 / lo])
    return row


def _resolution_groups(rows, alpha, margin, correction):
    """One statement per sample-size pair: what a verdict can mean at that n."""
    m = sum(1 for r in rows if r["ci"] is not None)  # the rows the correction spans
    groups = {}
    for r in (r for r in rows if r.get("min_p") is not None):
        groups.setdefault((r["n_a"], r["n_b"]), []).append(r)
    out = []
    for (na, nb), members in sorted(groups.items()):
        k = stats.rank_order_index(na, nb, alpha)
        min_p = stats.rank_min_p(na, nb)
        item = {"n_a": na, "n_b": nb, "rows": len(members), "min_p": min_p, "k": k,
                "pairs": na * nb}
        if not k:
            need = stats.rank_repetitions_needed(alpha)
            item["statement"] = (
                f"at n={na} vs {nb} the smallest one-sided p a rank test can give is "
                f"1/C({na + nb},{na}) = {_p(min_p)} > alpha {alpha:g}: these {len(members)} "
                f"row(s) can say neither 'changed' nor 'no change'; run >= {need} repetitions "
                f"a side")
            out.append(item)
            continue
        cover = 1.0 - 2.0 * stats.rank_cdf(na, nb, k - 1)
        res = sorted(r["resolution"] for r in members if r["resolution"] is not None)
        item.update(coverage=cover,
                    resolution_median=statistics.median(res) if res else None,
                    resolution_min=res[0] if res else None,
                    resolution_max=res[-1] if res else None)
        if k == 1:
            rule = (f"a row can read slower (faster) only when every B time is above (below) "
                    f"every A time, and its CI is the full range of the {na * nb} pairwise ratios")
        else:
            rule = (f"the CI runs from the {_ordinal(k)} smallest to the {_ordinal(k)} largest of "
                    f"the {na * nb} pairwise ratios")
        limit = " (the limit: it is at alpha)" if min_p > alpha / 2 else ""
        text = (f"at n={na} vs {nb} ({len(members)} rows) the smallest attainable one-sided p is "
                f"1/C({na + nb},{na}) = {_p(min_p)}{limit}; {rule} (coverage {100 * cover:.1f}%)")
        if correction == "bh" and m > 1:
            together = stats.rank_rows_needed(min_p, m, alpha)
            lone = min_p <= alpha / m
            item.update(rows_needed_together=together, lone_row_flaggable=lone)
            if lone:
                text += (f"; across the {m} rows (Benjamini-Hochberg) a row alone is flagged "
                         f"when its p <= {alpha / m:.3g}, which this n can reach")
            else:
                need = next(n for n in range(2, 1000)
                            if stats.rank_min_p(n, n) <= alpha / m)
                item["repetitions_for_lone_row"] = need
                text += (f"; across the {m} rows (Benjamini-Hochberg) a row alone would need p "
                         f"<= {alpha / m:.3g}, which this n cannot give: a change is flagged "
                         f"only when at least {together} rows reach p = {_p(min_p)} together; "
                         f"a lone row needs >= {need} repetitions a side")
        text += f". 'no change' means that a row's CI lies within +-{_pct(margin)}"
        if res:
            text += (f"; the smallest change these rows can resolve (CI half-width) is "
                     f"{_pct(item['resolution_median'])} (median; {_pct(res[0])} to "
                     f"{_pct(res[-1])})")
            wide = sum(1 for x in res if x > margin)
            if wide:
                text += (f"; {wide} row(s) cannot resolve +-{_pct(margin)} at this n and noise, "
                         f"so they can never read 'no change'")
        item["statement"] = text
        out.append(item)
    return out


def _ordinal(k):
    if 10 <= k % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _overall(rows, alpha, cross, resamples, seed):
    """The whole run at once (see stats.round_permutation_p): the rows' rounds reassigned
    between A and B, over the rows and columns _overall_columns picks. None with fewer than 2
    rows."""
    picked = _overall_columns(rows)
    if picked is None:
        return None
    na, nb, used = picked
    up, down, floor, how = stats.round_permutation_p([r["_logs"][0][:na] for r in used],
                                                     [r["_logs"][1][:nb] for r in used],
                                                     resamples=resamples, seed=seed)
    ua, ub = (min(x, stats.ROUND_MAX_COLUMNS) for x in (na, nb))  # the columns it used
    slower, faster = ("lower throughput", "higher throughput") if cross else ("slower", "faster")
    if up <= alpha:
        text = f"B is {slower} overall across the {len(used)} rows (p {_p(up, floor)})"
    elif down <= alpha:
        text = f"B is {faster} overall across the {len(used)} rows (p {_p(down, floor)})"
    else:
        text = (f"no overall shift across the {len(used)} rows (p {_p(up, floor)} for {slower}, "
                f"{_p(down, floor)} for {faster})")
    if any((r["n_a"], r["n_b"]) != (na, nb) for r in used):
        text += (f", over the first {na} and {nb} repetitions of each (rows with more were "
                 f"cut to these by position, before any value was looked at)")
    text += (f"; the sum of the rows' rank counts, its null from reassigning whole columns "
             f"(repetition j of every benchmark) between A and B, {how}, so the rows need not "
             f"be independent and the floor is again 1/C({ua + ub},{ua}) = {_p(floor)}. "
             f"It sees a shift of the whole run that no row shows alone; it cannot tell a "
             f"change of code from a run on a busier or slower-clocked machine")
    return {"rows": len(used), "n_a": na, "n_b": nb, "columns_a": ua, "columns_b": ub,
            "p_slower": up, "p_faster": down,
            "min_p": floor, "method": how,
            "change": "slower" if up <= alpha else "faster" if down <= alpha else None,
            "statement": text}


def _overall_columns(rows):
    """(n_a, n_b, rows) for the overall test: the first n_a and n_b repetitions of every row
    that has at least that many, at the sizes that give the most columns of evidence (rows x
    the smaller side). Rows of one size all keep all their repetitions; rows whose repetition
    counts differ (a run kept to its budget on a busy machine) are cut by position, which keeps
    a side's columns exchangeable. None when fewer than 2 rows with 2 repetitions a side."""
    logged = [r for r in rows if r.get("_logs") is not None]
    best = None
    sizes_a, sizes_b = sorted({r["n_a"] for r in logged}), sorted({r["n_b"] for r in logged})
    for na, nb in ((na, nb) for na in sizes_a for nb in sizes_b):
        if min(na, nb) < 2:
            continue
        used = [r for r in logged if r["n_a"] >= na and r["n_b"] >= nb]
        score = (len(used) * min(na, nb), len(used), na, nb)
        if len(used) >= 2 and (best is None or score > best[0]):
            best = (score, na, nb, used)
    return None if best is None else best[1:]


def method_text(alpha, margin, correction):
    level = 100 * (1 - 2 * alpha)
    corr = ("Benjamini-Hochberg across the rows, per direction (an A/A pair reads no change "
            "anywhere with probability >= 1 - alpha per direction)" if correction == "bh"
            else "none: p-values are per row, so about 2 alpha of the rows of an A/A pair read "
                 "changed by chance")
    return (
        "per benchmark, B/A of the time per unit of work (per timed execution; per unit of "
        "work for io benchmarks, e.g. per request: wall time / work.per_execution or "
        "params.requests, the /requests:N of the name or the work counter such as requests/s; "
        "kinds and units as the files declare them), matched by name without /requests:N; "
        "estimate: Hodges-Lehmann (the "
        "median of all pairwise ratios B_j/A_i); CI: the exact distribution-free interval from "
        f"the Mann-Whitney distribution (Bauer 1972), nominal {level:g}% (each end a one-sided "
        f"{100 * (1 - alpha):g}% bound, its real coverage stated per sample size; the ratios "
        f"are never all formed: beyond {stats.DENSE_PAIRS_LIMIT} pairs the needed order "
        f"statistics are selected from the sorted samples, the same values in memory linear in "
        f"the samples); p: exact one-sided Mann-Whitney on log times, consistent with the CI (CI "
        f"excludes 1 iff p <= alpha {alpha:g}; the Mann-Whitney distribution is exact up to "
        f"{stats.EXACT_RANK_LIMIT} pairs, its normal approximation beyond); correction for "
        f"many rows: {corr}; verdict: slower/faster when the corrected p <= alpha and the "
        f"estimate is beyond +-{_pct(margin)} ('..., within +-{_pct(margin)}' when it is "
        f"inside), no change when the row's CI lies within +-{_pct(margin)} (two one-sided "
        f"tests), inconclusive otherwise; repetitions are treated as exchangeable, so drift "
        f"between the two runs (machine load, frequency) is not in the CI: 'cvp gate' pairs "
        f"interleaved rounds for that; on different machines the same figures are read as "
        f"throughput B/A")


def _check_options(alpha, margin, correction, resamples, seed):
    """CvpError for an option out of its range."""
    if not (0.0 < alpha < 0.5):
        raise CvpError(f"alpha must be in (0, 0.5): {alpha!r}")
    if not (0.0 <= margin < 1.0) or not math.isfinite(margin):
        raise CvpError(f"margin must be a fraction in [0, 1): {margin!r}")
    if correction not in CORRECTIONS:
        raise CvpError(f"correction must be one of {', '.join(CORRECTIONS)}: {correction!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) \
            or not 100 <= resamples <= stats.MAX_RESAMPLES:
        raise CvpError(f"resamples must be an integer in [100, {stats.MAX_RESAMPLES}]: "
                       f"{resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise CvpError(f"seed must be a non-negative integer: {seed!r}")


def _adjust(tested, correction):
    """Each tested row's p-values corrected across the rows (per direction), or as they are."""
    if correction == "bh":
        up = stats.benjamini_hochberg([r["p_slower"] for r in tested])
        down = stats.benjamini_hochberg([r["p_faster"] for r in tested])
    else:
        up, down = [r["p_slower"] for r in tested], [r["p_faster"] for r in tested]
    for r, u, d in zip(tested, up, down):
        r["p_slower_adj"], r["p_faster_adj"] = u, d


def _notes(rows, testable, alpha, cross, diffs, mach_a, mach_b, run_a, run_b):
    """The sentences under the table: nothing tested, other machines, busy machines, other work."""
    notes = []
    if not testable:
        untestable = [r for r in rows if r["change"] == "untestable"]
        if untestable:
            r = untestable[0]
            notes.append(
                f"NOTHING WAS TESTED: at n={r['n_a']} vs {r['n_b']} repetitions the smallest "
                f"one-sided p a rank test can give is {_p(r['min_p'])}, above alpha {alpha:g}, so "
                f"no benchmark can read changed or unchanged; run both with --repetitions "
                f"{stats.rank_repetitions_needed(alpha)} or more.")
        else:
            notes.append("NOTHING WAS TESTED: no benchmark has samples on both sides (only "
                         "aggregates?); the ratios are of the files' medians.")
    if cross:
        notes.append(
            f"A and B ran on different machines ({', '.join(diffs)} differ): comparing "
            f"work-normalised throughput and each machine's own speedups, not raw times. "
            f"A: {machine_text(mach_a)}. B: {machine_text(mach_b)}.")
    for side, run in (("A", run_a), ("B", run_b)):
        if run.format == SUMMARY and run.doc.get("noisy"):
            reasons = run.doc.get("noise_reasons") or (run.doc.get("noise") or {}).get("reasons")
            why = "; ".join(str(x) for x in reasons[:3]) if isinstance(reasons, list) else ""
            notes.append(f"{side} was measured on a busy machine"
                         + (f" ({why})" if why else "") + ": its times may not be its own.")
    different_work = [r["name"] for r in rows if r.get("same_work") is False
                      and r["unit"] == "request"]
    if different_work:
        notes.append(f"{len(different_work)} benchmark(s) ran a different number of requests in "
                     f"A and B (not the same work); they are compared per request.")
    other_work = [r["name"] for r in rows if r.get("same_work") is False
                  and r["unit"] != "request"]
    if other_work:
        notes.append(f"{len(other_work)} benchmark(s) did a different amount of work per "
                     f"execution in A and B (see their notes); they are compared per "
                     f"execution.")
    return notes


def compare_runs(run_a, run_b, alpha=0.05, margin=DEFAULT_MARGIN, correction="bh",
                 resamples=20000, seed=stats.DEFAULT_SEED):
    """A plain dict (JSON-ready) describing B relative to A. CvpError when nothing is in common
    or when no benchmark has enough samples for any verdict."""
    _check_options(alpha, margin, correction, resamples, seed)
    a_all, b_all = measured(run_a), measured(run_b)
    common = [k for k in a_all if k in b_all]
    if not common:
        raise CvpError(f"{run_b.path}: no benchmark in common with {run_a.path}")
    mach_a, mach_b = machine_info(run_a), machine_info(run_b)
    diffs = machine_differences(mach_a, mach_b)
    cross = bool(diffs)
    rows = [_row(a_all[k], b_all[k], alpha) for k in common]
    testable = [r for r in rows if r["ci"] is not None]
    tested = testable  # rows that cannot reach alpha are no hypotheses worth a share of it
    _adjust(tested, correction)
    for r in testable:
        r["verdict"], r["change"] = _verdict(r, alpha, margin, cross, len(tested))
    notes = _notes(rows, testable, alpha, cross, diffs, mach_a, mach_b, run_a, run_b)
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    overall = _overall(rows, alpha, cross, resamples, seed)
    for r in rows:
        r.pop("_logs", None)
    return {
        "a": run_a.path, "b": run_b.path, "alpha": alpha, "margin": margin,
        "correction": correction,
        "method": method_text(alpha, margin, correction),
        "machines": {"a": mach_a, "b": mach_b, "same": not cross, "differences": diffs},
        "quantity": ("throughput B/A (work per second)" if cross
                     else "time per unit of work B/A"),
        "tested": len(testable),
        "benchmarks": rows,
        "resolution": _resolution_groups(rows, alpha, margin, correction),
        "overall": overall,
        "notes": notes,
        "only_in_a": [a_all[k].name for k in a_all if k not in b_all],
        "only_in_b": [b_all[k].name for k in b_all if k not in a_all],
        "geomean_ratio": stats.geometric_mean(ratios) if ratios else None,
        "geomean_note": SECONDARY_NOTE,
        "geomean_of": "time per unit of work B/A (its inverse is the throughput B/A)",
    }


# --- the table ---------------------------------------------------------------------------------

def _unit_label(r):
    """'/req' for a time per request; '/<unit>' for an io workload counting another unit of
    work; '' for a time per execution."""
    if r["unit"] != "request":
        return ""
    unit = r.get("work_unit")
    if unit in (None, "requests", "request"):
        return "/req"
    return "/" + singular(unit)


def _throughput(value, unit):
    if value is None:
        return "n/a"
    return f"{value:.4g} {unit}" if unit else f"{value:.4g}"


def _speedup_text(sp):
    if not sp:
        return "n/a"
    ci = sp.get("ci95")
    if isinstance(ci, list) and len(ci) == 2 and all(isinstance(c, (int, float)) for c in ci):
        return f"x{sp['value']:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"
    return f"x{sp['value']:.3g}"


def format_table(result):
    """The comparison as plain text; every line passes text.visible (one line each: no
    control, escape or bidirectional character from a name reaches the terminal)."""
    cross = not result["machines"]["same"]
    rows = result["benchmarks"]
    floor_of = {(g["n_a"], g["n_b"]): g["min_p"] for g in result["resolution"]}
    lines = []
    if cross:
        header = ["benchmark", "A throughput", "B throughput", "B/A", "CI", "p(lower)",
                  "p(higher)", "A speedup", "B speedup", "verdict"]
        for r in rows:
            unit = r["throughput_unit"]
            ci = "n/a" if not r["throughput_ci"] else \
                f"[{r['throughput_ci'][0]:.3f}, {r['throughput_ci'][1]:.3f}]"
            ratio = "n/a" if r["throughput_ratio"] is None else f"{r['throughput_ratio']:.3f}"
            floor = floor_of.get((r["n_a"], r["n_b"]))
            lines.append([r["name"], _throughput(r["throughput_a"], unit),
                          _throughput(r["throughput_b"], unit), ratio, ci,
                          _p(r["p_slower"], floor), _p(r["p_faster"], floor),
                          _speedup_text(r["speedup_a"]), _speedup_text(r["speedup_b"]),
                          r["verdict"]])
    else:
        header = ["benchmark", "A median", "B median", "B/A", "CI", "p(slower)", "p(faster)",
                  "verdict"]
        for r in rows:
            per = r["unit"] in ("request",) and r["per_unit_a_s"] is not None
            a_med = r["per_unit_a_s"] if per else r["median_a_s"]
            b_med = r["per_unit_b_s"] if per else r["median_b_s"]
            ratio = "n/a" if r["ratio"] is None else f"{r['ratio']:.3f}"
            ci = "n/a" if not r["ci"] else f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
            floor = floor_of.get((r["n_a"], r["n_b"]))
            lines.append([r["name"], format_seconds(a_med) + _unit_label(r),
                          format_seconds(b_med) + _unit_label(r), ratio, ci,
                          _p(r["p_slower"], floor), _p(r["p_faster"], floor), r["verdict"]])
    lines = [[visible(cell) for cell in row] for row in lines]
    last = len(header) - 1
    widths = [max(len(str(row[i])) for row in [header] + lines) for i in range(len(header))]
    out = [f"A: {result['a']}", f"B: {result['b']}"]
    if cross:
        out += [f"A machine: {machine_text(result['machines']['a'])}",
                f"B machine: {machine_text(result['machines']['b'])}"]
    out.append("")
    fmt = "  ".join("{:<%d}" % w if i in (0, last) else "{:>%d}" % w for i, w in enumerate(widths))
    out.append(fmt.format(*header).rstrip())
    out.append("  ".join("-" * w for w in widths))
    out += [fmt.format(*row).rstrip() for row in lines]
    out.append("")
    for note in result["notes"]:
        out.append(f"note: {note}")
    for r in rows:
        for note in r["notes"]:
            out.append(f"note: {r['name']}: {note}")
    if any("*" in cell for line in lines for cell in line[5:7]):
        out.append("* = the smallest p this sample size can give")
    if result.get("overall"):
        out.append(f"overall: {result['overall']['statement']}.")
    for g in result["resolution"]:
        out.append(f"what the verdicts can mean: {g['statement']}.")
    if result["geomean_ratio"] is not None:
        if cross:
            out.append(f"{result['geomean_note']}: {1.0 / result['geomean_ratio']:.3f} "
                       f"(throughput B/A)")
        else:
            out.append(f"{result['geomean_note']}: {result['geomean_ratio']:.3f}")
    for side in ("only_in_a", "only_in_b"):
        if result[side]:
            out.append(f"{side.replace('_', ' ')}: {', '.join(result[side])}")
    out.append(f"method: {result['method']}")
    return "\n".join(visible(line) for line in out) + "\n"
