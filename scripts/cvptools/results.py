"""One view over both input formats: benchmark names, workloads and their kinds and units,
time samples, machine labels.

Times are always seconds. Names read like Google Benchmark's (`matmul/n:512/mode:parallel/
backend:tbb/threads:2`) without the `/real_time` or `/process_time` suffixes, so a summary and
its benchmark.json name the same benchmark the same way.

What a workload is (its kind: cpu, memory or io; its unit of work and rate; its bound model)
comes from the file: a summary's `workloads` list and each result's `kind`, `work`,
`throughput.unit` and `bound_model`; a raw file's context pairs `cvpbench_workload_kinds`
("matmul:cpu,requests:io,triad:memory") and `cvpbench_work_units` ("matmul:FLOP,..."). Only
files written before those fields existed fall back to knowing the built-in workloads by name
(`requests` is io, everything else cpu; matmul counts FLOP, requests requests).
"""

import math
import statistics
from collections import OrderedDict
from dataclasses import dataclass, field

from . import CvpError
from .runio import SUMMARY, is_complexity_row

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_SUFFIXES = ("/real_time", "/process_time", "/manual_time")
IO_WORKLOADS = ("requests",)  # the fallback for files that do not say a workload's kind

# Kinds in the order every chart, table and report lists them; a kind this cvp does not know
# (a newer file) comes after them, in the order the file gives.
KIND_ORDER = ("cpu", "memory", "io")
KIND_HEADINGS = {"cpu": "CPU-bound", "memory": "Memory-bound", "io": "I/O-bound"}

# The rate a unit of work is shown in when a file names the unit but not its rate (a raw
# file's context): cvpbench's built-in units; any other unit is shown per second as it is.
_RATES = {"FLOP": ("GFLOP/s", 1e9), "bytes": ("GB/s", 1e9), "requests": ("requests/s", 1.0)}
# The built-in workloads' units, for files written before workloads described themselves.
_LEGACY_UNITS = {"matmul": "FLOP", "requests": "requests"}


def strip_suffixes(name):
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                changed = True
    return name


def result_name(result):
    """A summary result's benchmark name: its `name` field, else built from its fields."""
    if isinstance(result.get("name"), str) and result["name"]:
        return strip_suffixes(result["name"])
    parts = [result["workload"]]
    parts += [f"{k}:{v}" for k, v in result.get("params", {}).items()]
    parts += [f"mode:{result['mode']}", f"backend:{result['backend']}",
              f"threads:{result['threads']}"]
    return "/".join(parts)


def kind_rank(kind):
    """Sort key of a kind: cpu, memory, io, then kinds this cvp does not know."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def kind_heading(kind):
    return KIND_HEADINGS.get(kind, f"{kind}-bound")


def workload_of_name(name):
    return strip_suffixes(name).split("/", 1)[0]


def kind_of_name(name, kinds=None):
    """The kind of a Google Benchmark name: from `kinds` ({workload: kind}, a raw file's
    `cvpbench_workload_kinds`) when it names the workload, else the guess for files written
    before the context said (io for the request workload or a `/w_us:` segment, else cpu)."""
    head = workload_of_name(name)
    if kinds and head in kinds:
        return kinds[head]
    return "io" if head in IO_WORKLOADS or "/w_us:" in name else "cpu"


def singular(unit):
    """'requests' -> 'request', 'bytes' -> 'byte'; 'FLOP' and other units as they are."""
    unit = str(unit)
    return unit[:-1] if len(unit) > 3 and unit.endswith("s") and not unit.endswith("ss") \
        else unit


@dataclass(frozen=True)
class Workload:
    """What a file says of one workload. `declared`: the file describes the workload itself
    (a summary's `workloads` entry, a raw file's context pair); otherwise the fields are what
    its results show or, for old files, what cvp knows of the built-in workloads."""
    name: str
    kind: str
    work_unit: str = None      # "FLOP", "bytes", "requests", a user's unit; None: not known
    rate_unit: str = None      # "GFLOP/s", "GB/s", "requests/s"
    rate_scale: float = None   # units of work per unit of rate (1e9 for GFLOP/s)
    description: str = ""
    bound_model: str = ""
    timing: str = None
    declared: bool = False


def _text(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


def _positive(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and value > 0


def _pairs(text):
    """'matmul:cpu,requests:io' -> {'matmul': 'cpu', 'requests': 'io'} (in order); a pair
    without a colon, or with an empty side, is left out."""
    out = OrderedDict()
    if not isinstance(text, str):
        return out
    for part in text.split(","):
        name, sep, value = part.strip().rpartition(":")
        if sep and name.strip() and value.strip():
            out[name.strip()] = value.strip()
    return out


def _context(run):
    ctx = run.doc.get("context") if run.format != SUMMARY else None
    return ctx if isinstance(ctx, dict) else {}


def context_kinds(run):
    """{workload: kind} from a raw file's `cvpbench_workload_kinds` ({} when absent)."""
    return _pairs(_context(run).get("cvpbench_workload_kinds"))


def context_units(run):
    """{workload: unit of work} from a raw file's `cvpbench_work_units` ({} when absent)."""
    return _pairs(_context(run).get("cvpbench_work_units"))


def _rate_of(work_unit):
    return _RATES.get(work_unit, (f"{work_unit}/s", 1.0)) if work_unit else (None, None)


def workloads(run):
    """{name: Workload} of the workloads with results in `run`, in the order the file lists
    them (its `workloads` list or context pairs first, then any other workload in the order
    of its first result)."""
    out = OrderedDict()
    if run.format == SUMMARY:
        for w in run.doc.get("workloads") or []:
            if not isinstance(w, dict) or not _text(w.get("name")) or w["name"] in out:
                continue
            unit = w.get("unit") if isinstance(w.get("unit"), dict) else {}
            out[w["name"]] = Workload(
                name=w["name"], kind=str(w.get("kind") or "cpu"),
                work_unit=_text(unit.get("work")), rate_unit=_text(unit.get("rate")),
                rate_scale=float(unit["rate_scale"]) if _positive(unit.get("rate_scale"))
                else None,
                description=_text(w.get("description")) or "",
                bound_model=_text(w.get("bound_model")) or "",
                timing=_text(w.get("timing")), declared=True)
        for r in run.doc.get("results", []):
            name = r.get("workload")
            if not isinstance(name, str) or name in out:
                continue
            work = r.get("work") if isinstance(r.get("work"), dict) else {}
            tp = r.get("throughput") if isinstance(r.get("throughput"), dict) else {}
            out[name] = Workload(
                name=name, kind=str(r.get("kind") or "cpu"),
                work_unit=_text(work.get("unit")) or _LEGACY_UNITS.get(name),
                rate_unit=_text(tp.get("unit")),
                bound_model=_text(r.get("bound_model")) or "")
        return out
    kinds, units = context_kinds(run), context_units(run)
    for name in list(kinds) + [n for n in units if n not in kinds]:
        unit = units.get(name)
        rate, scale = _rate_of(unit)
        out[name] = Workload(name=name, kind=kinds.get(name) or kind_of_name(name),
                             work_unit=unit, rate_unit=rate, rate_scale=scale, declared=True)
    for b in run.doc.get("benchmarks", []):
        if not isinstance(b, dict) or not isinstance(b.get("name"), str):
            continue
        name = workload_of_name(b.get("run_name") or b["name"])
        if name not in out:
            unit = _LEGACY_UNITS.get(name)
            rate, scale = _rate_of(unit)
            out[name] = Workload(name=name, kind=kind_of_name(b["name"]), work_unit=unit,
                                 rate_unit=rate, rate_scale=scale)
    return out


def first_workload_of_kind(run, kind):
    """The first workload of `kind` the file itself lists (None when it lists none: an old
    file, whose readers keep their fallback)."""
    return next((w for w in workloads(run).values() if w.declared and w.kind == kind), None)


def result_work(r):
    """(unit, units per execution) of a summary result's `work`, (None, None) when absent."""
    work = r.get("work")
    if not isinstance(work, dict):
        return None, None
    unit = _text(work.get("unit"))
    per = work.get("per_execution")
    return unit, (float(per) if _positive(per) else None)


def is_headline(r):
    """False for a point of a side sweep (the crossover): the summary's `headline`, else the
    `crossover` parameter of files written before."""
    if isinstance(r.get("headline"), bool):
        return r["headline"]
    return (r.get("params") or {}).get("crossover") is not True


@dataclass
class Samples:
    name: str
    kind: str
    values: list = field(default_factory=list)  # seconds, one per repetition
    median: float = 0.0


def live_results(run):
    """A summary's results that carry a measurement (entries with an `error` are left out)."""
    return [r for r in run.doc.get("results", []) if not r.get("error")]


def gbench_groups(run):
    """A Google Benchmark document's measured rows by benchmark name (suffixes stripped), in
    file order: {name: (seconds per iteration of each repetition, those rows, median seconds)}.
    Failed and Complexity() rows are skipped; a name with only aggregates takes their median
    (else mean) and no rows; a name with neither is left out."""
    iterations, rows, aggregates = {}, {}, {}
    for b in run.doc["benchmarks"]:
        if b.get("error_occurred") or is_complexity_row(b):
            continue
        name = strip_suffixes(b.get("run_name") or b["name"])
        seconds = float(b["real_time"]) * _UNIT_SECONDS[b.get("time_unit", "ns")]
        if b.get("run_type", "iteration") == "aggregate":
            aggregates.setdefault(name, {})[b.get("aggregate_name")] = seconds
        else:
            iterations.setdefault(name, []).append(seconds)
            rows.setdefault(name, []).append(b)
    out = {}
    for name in list(iterations) + [n for n in aggregates if n not in iterations]:
        values = iterations.get(name, [])
        if values:
            median = statistics.median(values)
        else:
            agg = aggregates[name]
            median = agg.get("median", agg.get("mean"))
            if median is None:
                continue
        out[name] = (values, rows.get(name, []), float(median))
    return out


def samples_by_name(run):
    """{name: Samples} for either format. Duplicate names are an input error."""
    out = {}
    if run.format == SUMMARY:
        for r in live_results(run):
            name = result_name(r)
            if name in out:
                raise CvpError(f"{run.path}: benchmark {name!r} appears twice")
            values = [float(v) for v in r["wall_s"].get("samples", [])]
            out[name] = Samples(name, r["kind"], values, float(r["wall_s"]["median"]))
        return out
    kinds = context_kinds(run)
    for name, (values, _rows, median) in gbench_groups(run).items():
        out[name] = Samples(name, kind_of_name(name, kinds), values, median)
    if not out:
        raise CvpError(f"{run.path}: no benchmark results in it")
    return out


def machine_label(run, width=60):
    """'CPU model · N cores' (+ allowed cores, host) for chart titles and tables."""
    if run.format != SUMMARY:
        ctx = run.doc.get("context", {})
        cpus = ctx.get("num_cpus", "?")
        return _clip(f"{ctx.get('host_name', 'unknown host')} · {cpus} CPUs", width)
    m = run.doc["machine"]
    cores = f"{m['physical_cores']} cores"
    allowed = m.get("allowed_cores") or len(m["allowed_cpus"])
    if allowed != m["logical_cpus"]:
        cores += f", {allowed} allowed"
    return f"{_clip(m['cpu_model'], width)} · {cores}"


def _clip(text, width):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_value(value):
    """50.0 -> '50' (cvpbench writes microseconds as numbers), everything else as is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def params_label(params, skip=()):
    return ", ".join(f"{k}={format_value(v)}" for k, v in params.items() if k not in skip)


# --- bounds: the attainable one and the ideal ---------------------------------------------------

# Two bounds closer than this share of the ideal are drawn and printed as one.
BOUNDS_DIFFER = 0.01


def ideal_bound(r):
    """The ideal bound of a summary result: its `bound` (min(threads, cores); for requests the
    model with P = cores)."""
    return float(r["bound"])


def attainable_bound(r):
    """The attainable bound of a summary result (`attainable.value`: from this machine's measured
    capacities), the ideal for files written before rows carried one (or with an unusable one)."""
    a = r.get("attainable")
    value = a.get("value") if isinstance(a, dict) else None
    return float(value) if _positive(value) else ideal_bound(r)


def attainable_model(r):
    """The attainable bound's model in words ('' when the file gives none)."""
    a = r.get("attainable")
    return (_text(a.get("model")) or "") if isinstance(a, dict) else ""


def bounds_differ(r):
    """Whether the attainable bound and the ideal differ by more than BOUNDS_DIFFER."""
    ideal = ideal_bound(r)
    return abs(attainable_bound(r) - ideal) > BOUNDS_DIFFER * max(ideal, 1e-12)


def efficiencies(r):
    """(speedup / attainable, speedup / ideal) of a summary result, None where not finite: the
    file's `efficiency` and `efficiency_ideal`, else computed from its speedup and bounds (a file
    written before rows carried an attainable bound: both against the one bound it has)."""
    speedup = (r.get("speedup") or {}).get("value")
    if not _positive(speedup):
        return None, None

    def read(key, bound):
        value = r.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            return float(value)
        return speedup / bound if bound > 0 else None
    against_attainable = read("efficiency", attainable_bound(r))
    if "efficiency_ideal" not in r and not isinstance(r.get("attainable"), dict):
        return against_attainable, against_attainable  # one bound: the file's one efficiency
    return against_attainable, read("efficiency_ideal", ideal_bound(r))


# --- distributed and weak-scaling points ---------------------------------------------------------

def ranks_of(r):
    """The MPI ranks of a result: `ranks` (a distributed point's), else the `/ranks:R/` of its
    name, else 1."""
    value = r.get("ranks")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return _name_number(r.get("name"), "ranks", int) or 1


def weak_of(r):
    """The factor a weak-scaling point's problem grew by (its workers P): `weak`, else the
    `/weak:P/` of its name; 1 for a strong point (the group's own problem)."""
    value = r.get("weak")
    if _positive(value):
        return float(value)
    return _name_number(r.get("name"), "weak", float) or 1.0


def is_weak(r):
    """A point whose problem grew with its workers: its speedup is the scaled speedup."""
    return weak_of(r) > 1.0


def workers_of(r):
    """P of a point: its team's threads times its ranks."""
    return int(r["threads"]) * ranks_of(r)


def _name_number(name, key, kind):
    if not isinstance(name, str):
        return None
    for segment in name.split("/"):
        head, sep, value = segment.partition(":")
        if sep and head == key:
            try:
                number = kind(value)
            except ValueError:
                return None
            return number if math.isfinite(number) and number >= 1 else None
    return None


def name_ranks_weak(name):
    """(ranks, weak) from a benchmark name alone (1 and 1.0 where it has no such segment)."""
    return (_name_number(name, "ranks", int) or 1, _name_number(name, "weak", float) or 1.0)


def variant_label(r):
    """'', 'ranks:2', 'weak:2' or 'ranks:2 weak:4': how a point differs from its group's own
    one-process, strong point."""
    parts = []
    if ranks_of(r) > 1 or r.get("mode") == "distributed":
        parts.append(f"ranks:{ranks_of(r)}")
    if is_weak(r):
        parts.append(f"weak:{format_value(weak_of(r))}")
    return " ".join(parts)


def cluster_of(doc):
    """A summary's `machine.cluster` ({ranks, hosts, library, mpi_standard}) when it is a
    distributed run's, else None."""
    m = doc.get("machine") if isinstance(doc, dict) else None
    c = m.get("cluster") if isinstance(m, dict) else None
    if not isinstance(c, dict) or not isinstance(c.get("hosts"), list):
        return None
    if not all(isinstance(h, str) for h in c["hosts"]) or not c["hosts"]:
        return None
    return c


def cluster_hosts(doc):
    """The sorted set of a cluster's hosts as one text ('a,b'), None for a run on one machine:
    with the CPU model, what names a cluster as one machine."""
    c = cluster_of(doc)
    if c is None:
        return None
    return ",".join(sorted({" ".join(h.split()) for h in c["hosts"]}))


def network_of(doc):
    """A distributed run's measured network (`machine.limits.network`), else None."""
    m = doc.get("machine") if isinstance(doc, dict) else None
    limits = m.get("limits") if isinstance(m, dict) else None
    net = limits.get("network") if isinstance(limits, dict) else None
    return net if isinstance(net, dict) else None
