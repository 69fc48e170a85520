"""One view over both input formats: benchmark names, kinds, time samples, machine labels.

Times are always seconds. Names read like Google Benchmark's (`matmul/n:512/mode:parallel/
backend:tbb/threads:2`) without the `/real_time` or `/process_time` suffixes, so a summary and
its benchmark.json name the same benchmark the same way.
"""

import statistics
from dataclasses import dataclass, field

from . import CvpError
from .io import SUMMARY, is_complexity_row

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_SUFFIXES = ("/real_time", "/process_time", "/manual_time")
IO_WORKLOADS = ("requests",)


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


def kind_of_name(name):
    """cpu or io for a Google Benchmark name (summaries carry `kind` themselves)."""
    head = name.split("/", 1)[0]
    return "io" if head in IO_WORKLOADS or "/w_us:" in name else "cpu"


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
    for name, (values, _rows, median) in gbench_groups(run).items():
        out[name] = Samples(name, kind_of_name(name), values, median)
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
