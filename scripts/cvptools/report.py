"""One self-contained HTML page: machine context, verdicts, charts (embedded PNG), results.

The page loads nothing from the network (a Content-Security-Policy forbids it), every string
taken from an input file is HTML-escaped, so a hostile host name shows as text (and passes
text.visible first: a control or bidirectional character is shown as \\uXXXX, so it cannot
reorder what the page shows), and it fits a
1,400 px window: the results tables wrap instead of scrolling sideways. Numbers are rounded to
the digits that mean something (speedups and bounds as the verdict lines print them).

Many runs: with two or more, a table lists every run (its headline speedups, its warnings) under
the runs chart; only the first `detail` runs (plots.DEFAULT_DETAIL) get a section of their own
and a column in the detailed charts, and the page says which. The runs are read one at a time
(`gather`), so the page for 1,000 runs holds a digest of each and a few whole documents.
"""

import base64
import html
import json
import math
import os

from . import CvpError, __version__
from . import plots
from .export import excluded_text
from .results import (attainable_bound, attainable_model, bounds_differ, efficiencies,
                      cluster_of, format_value, ideal_bound, is_headline, is_weak,
                      kind_heading, kind_rank, live_results, network_of, ranks_of,
                      result_name, weak_of)
from .text import visible

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:20px;color:#1b1b1b;
     max-width:1360px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
h3{font-size:1.05em} h4{font-size:0.95em;margin:1.2em 0 0.3em}
table{border-collapse:collapse;font-size:0.82em;margin:8px 0;max-width:100%}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
table.results th{text-align:center} table.results tr.group th{text-align:left;background:#e8eef6}
td.long,th.long,code{overflow-wrap:anywhere}
.warn{color:#9a3b00} td.warn{font-weight:bold}
img{max-width:100%;height:auto;border:1px solid #eee;margin:8px 0}
ul.verdicts li{margin:3px 0} .small{color:#555;font-size:0.85em}
"""

_NB = "\u00a0"  # a no-break space: a number stays with its unit and its interval in one piece


def _e(value):
    return html.escape(visible(value, keep=_NB), quote=True)


def _long(text):
    """' class="long"' for text with a word too long to fit a column (it may break anywhere)."""
    return ' class="long"' if any(len(word) > 28 for word in str(text).split()) else ""


def _kv_table(pairs):
    rows = "".join(f"<tr><th>{_e(k)}</th><td{_long(v)}>{_e(v)}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _caches(caches):
    parts = []
    for c in caches:
        size = c.get("size_bytes", 0)
        size_text = f"{size // (1024 * 1024)} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"
        shared = f" shared by {c['shared_by']}" if "shared_by" in c else ""
        parts.append(f"L{c.get('level', '?')} {c.get('type', '')} {size_text}{shared}")
    return "; ".join(parts) or "none reported"


def commit_of(run):
    """The commit the summary records (tool.git_commit), or None when it does not know it."""
    commit = str(run.doc.get("tool", {}).get("git_commit") or "").strip()
    return None if commit.lower() in ("", "unknown", "none", "n/a") else commit


def machine_pairs(run):
    m, tool, config = run.doc["machine"], run.doc["tool"], run.doc["config"]
    libs = ", ".join(f"{k} {v}" for k, v in m.get("libraries", {}).items())
    commit = commit_of(run)
    pairs = [
        ("CPU model", m["cpu_model"]),
        ("cores", f"{m['physical_cores']} physical, {m['logical_cpus']} logical, "
                  f"SMT {'on' if m['smt'] else 'off'}"),
        ("allowed CPUs", cpu_list(m["allowed_cpus"])),
        ("caches", _caches(m.get("caches", []))),
        ("governor", m["governor"]),
        ("compiler and flags", f"{m['compiler']} {m['flags']}"),
        ("libraries", libs),
        ("OS", m["os"]), ("host", m["host"]), ("date", m["date"]),
        ("tool", f"{tool['name']} {tool['version']}"),
        ("commit", commit if commit else "not recorded by this build (git_commit: "
                                         f"{tool.get('git_commit', '')!s})"),
        ("configuration", f"quick={json.dumps(config['quick'])}, "
                          f"repetitions={config['repetitions']}"),
    ]
    for key, label in (("time_measurement", "time measurement"),
                       ("summary_method", "summary method")):
        if key in config:
            pairs.append((label, config[key]))
    pairs += cluster_pairs(run)
    return pairs


def cluster_pairs(run):
    """A distributed run's cluster and measured network as (label, text) rows; [] for a run on
    one machine. The machine rows above are rank 0's."""
    cluster = cluster_of(run.doc)
    if cluster is None:
        return []
    hosts = [str(h) for h in cluster["hosts"]]
    distinct = sorted(set(hosts))
    text = (f"{cluster.get('ranks', len(hosts))} MPI ranks on {len(distinct)} "
            f"host{'' if len(distinct) == 1 else 's'} ({', '.join(distinct)}); by rank: "
            f"{', '.join(hosts)}; the machine rows above are rank 0's")
    pairs = [("cluster", text), ("MPI library", str(cluster.get("library", "?"))
                                 + (f" (MPI {cluster['mpi_standard']})"
                                    if cluster.get("mpi_standard") else ""))]
    net = network_of(run.doc)
    if net is not None:
        def num(key, scale=1.0, digits=2):
            value = net.get(key)
            return f"{value / scale:.{digits}f}" if _finite(value) else "?"
        pairs.append(("network", f"latency {num('latency_us')} us, bandwidth "
                                 f"{num('bandwidth_bytes_per_s', 1e9)} GB/s, allreduce "
                                 f"{num('allreduce_us')} us over {net.get('ranks', '?')} ranks; "
                                 f"between {net.get('between', '?')}; "
                                 f"{net.get('transport', '?')}"))
        if net.get("method"):
            pairs.append(("network, how measured", str(net["method"])))
    return pairs


def _warnings(run):
    out = []
    if run.doc.get("interrupted"):
        out.append("The run was interrupted: results are incomplete.")
    for err in run.doc.get("errors", []):
        out.append(f"Error: {err.get('message', err) if isinstance(err, dict) else err}")
    for r in run.doc.get("results", []):
        if r.get("error"):
            out.append(f"{result_name(r)}: {r['error']}")
        elif not r["evidence"]["pinned"]:
            out.append(f"{result_name(r)}: workers were not pinned as intended "
                       f"(seen on CPUs {cpu_list(r['evidence']['cpus_seen'])}).")
        if r.get("anomaly"):
            out.append(f"{result_name(r)}: anomaly: {r['anomaly']}.")
    precision = run.doc.get("precision") or {}
    missed = precision.get("missed") or []
    if missed:
        names = ", ".join(f"{m['name']} ({_reached_text(m.get('reached'))}: {m['why']})"
                          for m in missed[:8])
        more = f" and {len(missed) - 8} more" if len(missed) > 8 else ""
        out.append(f"{len(missed)} row(s) missed the precision target of "
                   f"+-{100 * precision.get('target', 0):.1f}%: {names}{more}.")
    return out


# --- numbers ------------------------------------------------------------------------------------

def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def ratio(value):
    """Speedups and bounds as cvpbench's verdict lines print them: 0.98, 1.98, 13.6, 264.6."""
    if not _finite(value):
        return "n/a"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def sig(value, digits=3):
    """`digits` significant digits, never in exponent notation: 45.1, 0.0123, 12,056."""
    if not _finite(value):
        return "n/a"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:
        return f"{round(value):,}"
    return f"{value:.{digits - 1 - magnitude}f}"


_TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))


def _time(seconds):
    unit, scale = next(((u, s) for u, s in _TIME_UNITS if abs(seconds) >= s), _TIME_UNITS[-1])
    return unit, scale


def time_ci(median, lo, hi):
    """'47.6 ms [45.9, 49.1]': three significant digits in the median's unit."""
    if not _finite(median):
        return "n/a"
    unit, scale = _time(median)
    return f"{sig(median / scale)}{_NB}{unit} [{sig(lo / scale)},{_NB}{sig(hi / scale)}]"


def seconds(value):
    """'47.6 ms': three significant digits."""
    if not _finite(value):
        return "n/a"
    unit, scale = _time(value)
    return f"{sig(value / scale)}{_NB}{unit}"


def cpu_list(cpus):
    """0, 1 / 0-15 / 0, 2, 4-7: runs of three or more CPUs as ranges."""
    cpus = sorted({int(c) for c in cpus})
    parts, i = [], 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{cpus[i]}-{cpus[j]}")
        else:
            parts.extend(str(c) for c in cpus[i:j + 1])
        i = j + 1
    return ", ".join(parts) or "none"


def _latency(lat):
    if not lat:
        return ""
    values = [lat.get("p50"), lat.get("p95"), lat.get("p99")]
    if not all(_finite(v) for v in values):
        return "n/a"
    scale, unit = (1e3, "ms") if max(values) >= 1000 else (1.0, "us")
    return f"{_NB}/{_NB}".join(sig(v / scale) for v in values) + f"{_NB}{unit}"


def _group_label(r):
    """'matmul n=256' from the summary's `group` ('matmul/n:256'), None without one."""
    group = r.get("group")
    if not isinstance(group, str) or not group:
        return None
    head, _, rest = group.partition("/")
    parts = []
    for seg in rest.split("/"):
        name, sep, value = seg.partition(":")
        if seg:
            parts.append(f"{name[:-3]}={value}us" if sep and name.endswith("_us")
                         else f"{name}={value}" if sep else seg)
    return " ".join([head] + parts)


def _mode_text(r):
    """'parallel'; 'distributed, 2 ranks'; 'parallel, weak x2 (n=323)': a weak-scaling point
    sits under its group's heading with the problem it grew to (a request point: its requests,
    and its scaled speedup over the concurrent point of its own K on one core)."""
    text = r["mode"]
    if r["mode"] == "distributed" or ranks_of(r) > 1:
        text += f", {ranks_of(r)} ranks"
    if is_weak(r) and r.get("kind") == "io":
        # K x P in flight (a column of its own) and N x P requests; the scaled speedup is over
        # the concurrent point of the K it grew from, on one core.
        text += f", weak x{format_value(weak_of(r))}"
        if "requests" in r["params"]:
            text += f" (requests={format_value(r['params']['requests'])})"
        scaled = ((r.get("io") or {}).get("weak") or {}).get("scaled_speedup")
        if _finite(scaled):
            text += (f", x{scaled:.2f} over K={format_value(r['in_flight'] / weak_of(r))} "
                     f"on 1 core")
        if _finite(r.get("gustafson_serial_fraction")):
            text += f", Gustafson s {r['gustafson_serial_fraction']:.3f}"
    elif is_weak(r):
        grown = ", ".join(f"{k}={format_value(v)}" for k, v in r["params"].items()
                          if k not in ("k", "requests", "crossover"))
        text += f", weak x{format_value(weak_of(r))}" + (f" ({grown})" if grown else "")
        if _finite(r.get("gustafson_serial_fraction")):
            text += f", Gustafson s {r['gustafson_serial_fraction']:.3f}"
    return text


def _workload_label(r):
    """matmul n=1024; requests c=50us w=1000us (K is a column of its own). A weak-scaling
    point is labelled by its group (its own parameters are the grown problem's)."""
    if is_weak(r) and _group_label(r):
        return _group_label(r)
    skip = ("k", "requests", "crossover")
    parts = []
    for k, v in r["params"].items():
        if k in skip or (k == "distribution" and v == "fixed"):
            continue
        if k.endswith("_us"):
            parts.append(f"{k[:-3]}={format_value(v)}us")
        else:
            parts.append(f"{k}={format_value(v)}")
    if r["params"].get("crossover") is True:
        parts.append("(crossover sweep)")
    elif not is_headline(r):
        parts.append("(side sweep, not in the verdict)")
    return " ".join([r["workload"]] + parts)


def _baseline_cell(by_name, r):
    """('serial threads, 47.6 ms', full baseline name) for a result's speedup baseline."""
    sp = r["speedup"]
    name = str(sp.get("baseline", ""))
    base = by_name.get(name)
    text = f"{base['mode']} {base['backend']}" if base else name
    wall = sp.get("baseline_wall_s")
    if _finite(wall) and wall > 0:
        text += f", {seconds(wall)}"
    return text, name


# --- the results tables -------------------------------------------------------------------------

# Task-split kinds (cpu, memory and kinds this cvp does not know) share the cpu columns.
_COLUMNS = {
    "cpu": ["mode", "backend", "threads", "cores", "tasks in flight", "time [95% CI]",
            "speedup [95% CI]", "bound", "eff.", "cpu/wall", "CPUs seen", "pinned", "baseline",
            "throughput"],
    "io": ["mode", "backend", "threads", "cores", "in flight (K)", "time [95% CI]",
           "speedup [95% CI]", "bound", "eff.", "cpu/wall", "CPUs seen", "pinned", "baseline",
           "throughput", "latency p50 / p95 / p99"],
}


def _values_text(r):
    """'c_measured_us 51.2, wait_overshoot_us 3.1': the medians of the figures the workload
    reports per execution (the summary's `values`)."""
    values = r.get("values")
    if not isinstance(values, dict):
        return ""
    return ", ".join(f"{k}{_NB}{sig(v)}" for k, v in values.items() if _finite(v))


def _reached_text(reached):
    """The precision a row reached: +-2.1%, or n/a where it had too few pairs for a 95% CI."""
    return f"+-{100 * reached:.1f}%" if _finite(reached) else "+-n/a"


def speedup_ci_text(sp):
    """x1.61 [1.01, 1.90]; where the file says its pairs were too few for a 95% interval
    (speedup.ci_known false), x32.6 n/a (2 pairs): a range of one or two ratios is no interval."""
    if sp.get("ci_known") is False:
        pairs = sp.get("pairs")
        count = f"{pairs} pair{'' if pairs == 1 else 's'}" if isinstance(pairs, int) else "too few pairs"
        return f"x{ratio(sp['value'])} n/a{_NB}({count})"
    return f"x{ratio(sp['value'])} [{ratio(sp['ci95'][0])},{_NB}{ratio(sp['ci95'][1])}]"


def bounds_text(r):
    """'1.52 / 2.00': the attainable bound and the ideal; one number where they are within 1%
    (and for runs written before rows carried an attainable bound)."""
    if not bounds_differ(r):
        return ratio(attainable_bound(r))
    return f"{ratio(attainable_bound(r))} /{_NB}{ratio(ideal_bound(r))}"


def efficiencies_text(r):
    """'0.95 / 0.72': speedup over the attainable bound and over the ideal; one number where
    the bounds are within 1%; n/a without a speedup."""
    against_attainable, against_ideal = efficiencies(r)
    if against_attainable is None or not r["speedup"]["value"] > 0:
        return "n/a"
    if not bounds_differ(r) or against_ideal is None:
        return f"{against_attainable:.2f}"
    return f"{against_attainable:.2f} /{_NB}{against_ideal:.2f}"


def _row(by_name, r, with_values=False):
    wall, sp = r["wall_s"], r["speedup"]
    base_text, base_name = _baseline_cell(by_name, r)
    pinned = bool(r["evidence"]["pinned"])
    tp = r["throughput"]
    cells = [
        (_mode_text(r), "", r.get("name") if _mode_text(r) != r["mode"] else None),
        (r["backend"], "", None),
        (r["threads"], "n", None), (r["cores"], "n", None), (r["in_flight"], "n", None),
        (time_ci(wall["median"], *wall["ci95"]), "n", None),
        (speedup_ci_text(sp) + (f" {_reached_text(r['precision'].get('reached'))}"
                                if r.get("precision") else "")
         if sp["value"] > 0 else "n/a (no baseline)", "n", None),
        (bounds_text(r), "n", attainable_model(r) or None),
        (efficiencies_text(r), "n", None),
        (f"{r['cpu_per_wall']:.2f}" if _finite(r.get("cpu_per_wall")) else "n/a", "n", None),
        (cpu_list(r["evidence"]["cpus_seen"]), "", None),
        ("yes" if pinned else "NO", "" if pinned else "warn", None),
        (base_text, "", base_name),
        (f"{sig(tp['value'])} {tp['unit']}", "n", None),
    ]
    if r["kind"] == "io":
        cells.append((_latency(r.get("latency_us")), "n", None))
    if with_values:
        cells.append((_values_text(r), "", None))
    out = []
    for value, cls, title in cells:
        classes = " ".join(c for c in (cls, "long" if _long(value) else "") if c)
        attrs = f' class="{classes}"' if classes else ""
        attrs += f' title="{_e(title)}"' if title else ""
        out.append(f"<td{attrs}>{_e(value)}</td>")
    return "<tr>" + "".join(out) + "</tr>"


def results_tables(run):
    """One table per kind (CPU-bound, Memory-bound, I/O-bound, in that order; the kind each
    result declares), a heading row per workload: the setting, time, speedup with its bound and
    baseline, the evidence (cpu/wall, CPUs seen, pinned) and the figures the workload reports
    per execution (`values`), when any."""
    parts = []
    by_name = {result_name(x): x for x in run.doc.get("results", [])}
    live = live_results(run)
    kinds = sorted(dict.fromkeys(r["kind"] for r in live), key=kind_rank)
    for kind in kinds:
        results = [r for r in live if r["kind"] == kind]
        heading = kind_heading(kind)
        columns = list(_COLUMNS["io" if kind == "io" else "cpu"])
        with_values = any(_values_text(r) for r in results)
        if with_values:
            columns.append("values (median per execution)")
        rows, current = [], None
        ordered = ([r for r in results if is_headline(r)]
                   + [r for r in results if not is_headline(r)])
        for r in ordered:
            label = _workload_label(r)
            if label != current:
                rows.append(f"<tr class=group><th colspan={len(columns)}{_long(label)}>"
                            f"{_e(label)}</th></tr>")
                current = label
            rows.append(_row(by_name, r, with_values))
        header = "".join(f"<th>{_e(h)}</th>" for h in columns)
        parts.append(f"<h4>{_e(heading)}</h4><table class=results><tr>{header}</tr>"
                     f"{''.join(rows)}</table>")
    return "".join(parts)


def workloads_table(run):
    """The workloads the summary lists (name, kind, unit of work and rate, bound model, timing,
    description); '' for summaries written before workloads described themselves."""
    listed = [w for w in run.doc.get("workloads") or [] if isinstance(w, dict)]
    if not listed:
        return ""
    header = ["workload", "kind", "unit of work", "rate", "bound model", "timing",
              "description"]
    rows = []
    for w in sorted(listed, key=lambda w: kind_rank(w.get("kind"))):
        unit = w.get("unit") if isinstance(w.get("unit"), dict) else {}
        scale = unit.get("rate_scale")
        rate = str(unit.get("rate", ""))
        if _finite(scale) and scale != 1:
            rate += f" (1 {rate} = {scale:g} {unit.get('work', '')}/s)"
        cells = [w.get("name", ""), w.get("kind", ""), unit.get("work", ""), rate,
                 w.get("bound_model", ""), w.get("timing", ""), w.get("description", "")]
        rows.append("<tr>" + "".join(f"<td{_long(c)}>{_e(c)}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f"<table class=workloads><tr>{head}</tr>{''.join(rows)}</table>"


def run_facts(run):
    """What the table of runs says of a run beside its headline: its warnings, counted."""
    unpinned = sum(1 for r in run.doc.get("results", [])
                   if not r.get("error") and not r["evidence"]["pinned"])
    failed = sum(1 for r in run.doc.get("results", []) if r.get("error"))
    return {"interrupted": bool(run.doc.get("interrupted")), "unpinned": unpinned,
            "failed": failed, "errors": len(run.doc.get("errors", []) or [])}


def gather(runs, detail=plots.DEFAULT_DETAIL):
    """The runs (any iterable, read once) as the report needs them: see plots.gather."""
    return plots.gather(runs, detail, extra=run_facts)


def chart_images(runs):
    """[(chart name, PNG bytes, caption)] for every chart that has something to draw; the
    caption says which runs a detailed chart draws when it cannot draw them all."""
    sel = runs if isinstance(runs, plots.Selection) else gather(runs)
    out = []
    for name in plots.available(sel):
        png = plots.render(plots.build(name, sel), "png")
        caption = ""
        if name != "runs":
            numbers = sel.drawn(name)
            if len(numbers) < sel.total:
                caption = (f"Runs {plots.shown_runs(numbers, sel.total)} of {sel.total:,}: the "
                           f"first {sel.detail} with data for this chart. Every run is in the "
                           f"runs chart and the table of runs.")
        out.append((name, png, caption))
    return out


_CHART_TITLES = {
    "speedup": "Speedup per workload: serial, concurrent and parallel at the cores (the points "
               "the verdict lines quote), inside their bounds",
    "scaling": "Parallel scaling of CPU- and memory-bound work (ideal, bound, Amdahl fit, "
               "Karp-Flatt; distributed points at P = threads x ranks)",
    "weak": "Weak against strong scaling: speedup vs workers P, the ideal, an Amdahl fit of the "
            "strong points and a Gustafson fit of the weak ones",
    "io": "I/O-bound throughput vs requests in flight",
    "crossover": "Crossover: speedup vs CPU share of a request",
    "runs": "Every run: the headline speedups, a point per run, and their spread",
    "roofline": "Roofline: every point's FLOP/s at its arithmetic intensity, under the machine's "
                "measured peak and bandwidth",
}


def limits_pairs(run):
    """The machine's own limits as (label, text) rows, or [] when the run has none."""
    limits = (run.doc.get("machine") or {}).get("limits")
    if not isinstance(limits, dict):
        return []
    flops = limits.get("flops_per_s") or {}
    bw = limits.get("bandwidth_bytes_per_s") or {}
    timer = limits.get("timer_wakeup_us") or {}
    futex = limits.get("futex_wakeup_us") or {}

    def num(value, scale=1.0, digits=1):
        return f"{value / scale:.{digits}f}" if _finite(value) else "?"
    cores = flops.get("cores")
    when = ("cached, measured " if limits.get("cached") else "measured ") + str(limits.get("measured_at", "?"))
    return [
        ("FP64 peak (FMA)", f"{num(flops.get('one_core'), 1e9)} GFLOP/s on one core, "
                            f"{num(flops.get('all_cores'), 1e9)} on {cores if isinstance(cores, int) else '?'} cores"),
        ("memory bandwidth (triad)", f"{num(bw.get('one_core'), 1e9)} GB/s from one core, "
                                     f"{num(bw.get('all_cores'), 1e9)} from all"),
        ("wake-up, 50 us timer", f"{num(timer.get('median'))} us late (median), {num(timer.get('p99'))} (p99)"),
        ("wake-up, futex from another CPU", f"{num(futex.get('median'))} us (median), {num(futex.get('p99'))} (p99)"),
        ("context switch, one core", f"{num(limits.get('context_switch_us'), 1, 2)} us"),
        ("when", when),
    ]


def diagnosis_items(run):
    """[(row name, line)] of the rows below their bound beyond their CI."""
    out = []
    for d in run.doc.get("diagnoses") or []:
        if isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("line"), str):
            out.append((d["name"], d["line"]))
    return out


# A row whose speedup is at least this share of its attainable bound gets no "why not more"
# line (as on cvpbench's console).
CLOSE_TO_BOUND = 0.97


def _diagnosed_rows(run):
    """[(result or None, name, cause, line)] of the rows the run diagnosed, in file order: each
    result's `diagnosis`, else the summary's `diagnoses` list (files that have only that)."""
    by_name = {result_name(r): r for r in live_results(run)}
    out, seen = [], set()
    for name, r in by_name.items():
        d = r.get("diagnosis")
        if isinstance(d, dict) and isinstance(d.get("line"), str):
            out.append((r, name, str(d.get("cause") or "not_identified"), d["line"]))
            seen.add(name)
    for d in run.doc.get("diagnoses") or []:
        if (isinstance(d, dict) and isinstance(d.get("name"), str)
                and isinstance(d.get("line"), str) and d["name"] not in seen):
            out.append((by_name.get(d["name"]), d["name"], str(d.get("cause") or
                                                              "not_identified"), d["line"]))
    return out


def close_to_bound(r):
    """Whether a result's speedup is within 3% of its attainable bound (CLOSE_TO_BOUND)."""
    if r is None:
        return False
    speedup = (r.get("speedup") or {}).get("value")
    bound = attainable_bound(r)
    return _finite(speedup) and bound > 0 and speedup >= CLOSE_TO_BOUND * bound


def compact_names(names):
    """'triad n:4096 parallel threads/openmp/tbb; matmul n:512 parallel tbb threads:2/4': row
    names, one phrase per name up to its mode (and the mode), with their backends and, where
    they differ, their thread counts."""
    phrases = {}
    for name in names:
        head, _, rest = name.partition("/mode:")
        fields = dict(part.split(":", 1) for part in ("mode:" + rest).split("/") if ":" in part)
        key = f"{head.replace('/', ' ')} {fields.get('mode', '?')}".strip()
        backends, threads = phrases.setdefault(key, ({}, {}))
        backends[fields.get("backend", "?")] = None
        threads[fields.get("threads", "?")] = None
    out = []
    for key, (backends, threads) in phrases.items():
        text = f"{key} {'/'.join(backends)}"
        if len(threads) > 1:
            text += " threads:" + "/".join(sorted(threads, key=lambda t: (len(t), t)))
        out.append(text)
    return "; ".join(out)


def why_not_more(run, verbose=False):
    """The "why not more" of a run as cvpbench's console prints it: (groups, close) where
    groups is [(cause, text, [(row name, line)])], one per cause (named causes first, then
    not_identified), text naming its rows compactly or, for not_identified without `verbose`,
    counting them, and the rows' own lines (given only with `verbose`); close is how many
    diagnosed rows were left out for being within 3% of their attainable bound."""
    by_cause, close = {}, 0
    for r, name, cause, line in _diagnosed_rows(run):
        if close_to_bound(r):
            close += 1
            continue
        by_cause.setdefault(cause, []).append((name, line))
    ordered = sorted(by_cause.items(), key=lambda item: item[0] == "not_identified")
    groups = []
    for cause, rows in ordered:
        count = f"{len(rows)} row{'' if len(rows) == 1 else 's'}"
        if cause == "not_identified" and not verbose:
            groups.append((cause, f"{count} below their bound with no cause this run measured "
                                  f"(cvp report --verbose lists each)", []))
            continue
        groups.append((cause, f"{compact_names([n for n, _ in rows])} ({count})",
                       rows if verbose else []))
    return groups, close


def excluded_items(run):
    """[(row name, text)] of the rows with blocks set aside as disturbed: how many, the
    summary's reason and each block's own (export.excluded_text), as the run measured them."""
    out = []
    for r in live_results(run):
        text = excluded_text(r)
        if text:
            out.append((result_name(r), text))
    return out


def timeline_image(run):
    """(PNG bytes, note) of the run's trace (cvp timeline's default points), or (None, why not)
    when the run folder has no readable trace.json; (None, "") for a run made without --trace."""
    if run.doc.get("trace") is None:
        return None, ""
    from . import timeline
    folder = os.path.dirname(run.path) or "."
    try:
        return timeline.draw(timeline.panels(folder), "png"), ""
    except CvpError as e:
        return None, str(e)


def _warning_text(facts):
    parts = []
    if facts["interrupted"]:
        parts.append("interrupted")
    for key, word in (("failed", "failed"), ("unpinned", "not pinned"), ("errors", "errors")):
        if facts[key]:
            parts.append(f"{facts[key]} {word}")
    return ", ".join(parts)


def _speedups_cell(group):
    """'x0.98 / x1.98' (concurrency / parallelism of the verdict backend), its name on hover."""
    if group is None:
        return "<td class=n>-</td>"
    quoted = group["quoted"]
    text = " / ".join(f"x{ratio(quoted[m]['value'])}" if m in quoted else "n/a"
                      for m in ("concurrent", "parallel"))
    return (f'<td class=n title="{_e(group["verdict_backend"])} backend">'
            f"{_e(text).replace(' / ', _NB + '/ ')}</td>")


def runs_table(sel, limit=6):
    """Every run in one table: its number, folder, machine, host, date, commit, the headline
    speedups per workload (at most `limit` workloads) and its warnings."""
    rows, total, per_run = plots.runs_table(sel, limit)
    suffixes = plots.title_suffixes([d.title_lines for d in sel.digests])
    head = ["#", "run", "machine", "host · date · commit"]
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    header += "".join(f"<th{_long(label)}>{_e(label)}<br><span class=small>concurrency / "
                      f"parallelism</span></th>" for _, label in rows)
    header += "<th>warnings</th>"
    body = []
    for d, groups, suffix in zip(sel.digests, per_run, suffixes):
        machine, when, name = d.title_lines
        cells = [f"<td class=n>{d.number:,}</td>", f"<td{_long(name)}>{_e(name + suffix)}</td>",
                 f"<td>{_e(machine)}</td>", f"<td>{_e(when)}</td>"]
        if not d.results:
            cells.append(f"<td colspan={len(rows)}>no results</td>" if rows else "")
        else:
            cells += [_speedups_cell(groups.get(row)) for row in rows]
        warn = _warning_text(d.extra) if d.extra else ""
        cells.append(f"<td class=warn>{_e(warn)}</td>" if warn else "<td></td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = (f"<p class=small>The table shows the first {len(rows)} of {total} workloads, those "
            f"measured in the most runs.</p>" if len(rows) < total else "")
    return (f"<table class=runs><tr>{header}</tr>" + "\n".join(body) + "</table>" + note)


def _image(name, png, caption):
    data = base64.b64encode(png).decode("ascii")
    note = f"<p class=small>{_e(caption)}</p>" if caption else ""
    return (f"<h3>{_e(_CHART_TITLES[name])}</h3>{note}"
            f'<img alt="{_e(name)} chart" src="data:image/png;base64,{data}">')


def _all_runs_section(sel, images, partial, detailed):
    """The opening of a page of several runs: the runs chart and the table of every run."""
    parts = []
    parts.append(f"<h2>All {sel.total:,} runs</h2>")
    if partial:
        parts.append(f"<p>{sel.total:,} runs: every run is in the chart and the table "
                     f"below. Runs 1-{detailed} have their verdicts, machine and "
                     f"results further down, and each detailed chart draws at most "
                     f"{sel.detail} runs, its caption says which (<code>cvp report --detail "
                     f"N</code> takes up to {plots.MAX_DETAIL}; report any other run on its "
                     f"own for its details).</p>")
    for name, png, _ in images:
        if name == "runs":
            parts.append(_image(name, png, ""))
    parts.append(runs_table(sel))
    return parts


def attainable_models(run):
    """{attainable bound's model: rows with it}, in file order ({} for runs without them)."""
    out = {}
    for r in live_results(run):
        model = attainable_model(r)
        if model:
            out[model] = out.get(model, 0) + 1
    return out


def _why_not_more_section(run, verbose):
    """The rows below their bound, grouped by cause (each row's own line with `verbose`)."""
    groups, close = why_not_more(run, verbose)
    if not groups:
        return []
    one = close == 1
    left_out = (f" {close} row{'' if one else 's'} within 3% of {'its' if one else 'their'} "
                f"attainable bound {'is' if one else 'are'} left out." if close else "")
    items = []
    for cause, text, rows in groups:
        own = "".join(f"<li><code>{_e(name)}</code>: {_e(line)}</li>" for name, line in rows)
        items.append(f"<li><b>{_e(cause)}</b>: {_e(text)}" + (f"<ul>{own}</ul>" if own else "")
                     + "</li>")
    return ["<h3>Why not more</h3><p class=small>Rows whose speedup's 95% CI lies wholly below "
            "their bound, grouped by the cause this run measured." + left_out + "</p>"
            "<ul class=why>" + "".join(items) + "</ul>"]


def _run_section(run, title, verbose=False):
    """A run's own section: verdicts, warnings, machine, limits, diagnosis, blocks set aside,
    timeline and workloads."""
    parts = []
    parts.append(f"<h2>{_e(title)}</h2>")
    verdicts = run.doc.get("verdicts", [])
    if verdicts:
        parts.append("<h3>Verdicts</h3><ul class=verdicts>"
                     + "".join(f"<li>{_e(v)}</li>" for v in verdicts) + "</ul>")
    warnings = _warnings(run)
    if warnings:
        parts.append("<ul class=warn>" + "".join(f"<li>{_e(w)}</li>" for w in warnings)
                     + "</ul>")
    parts.append("<h3>Machine and configuration</h3>" + _kv_table(machine_pairs(run)))
    limits = limits_pairs(run)
    if limits:
        parts.append("<h3>The machine's own limits</h3><p class=small>Measured at the start "
                     "of the run, or kept from an earlier run on this machine: what the "
                     "diagnosis reads every row against.</p>" + _kv_table(limits))
    models = attainable_models(run)
    if models:
        parts.append("<p class=small>Attainable bounds, as the run derived them: "
                     + "; ".join(f"{_e(m)} ({n:,} row{'' if n == 1 else 's'})"
                                 for m, n in models.items()) + ".</p>")
    parts += _why_not_more_section(run, verbose)
    excluded = excluded_items(run)
    if excluded:
        blocks = sum(len(r["excluded_samples"]["wall_s"]) for r in live_results(run)
                     if excluded_text(r))
        parts.append(f"<h3>Blocks set aside</h3><details><summary>{blocks:,} disturbed "
                     f"block(s) in {len(excluded):,} row(s) were kept out of the results and "
                     f"measured again; why, as the run measured it</summary><ul>"
                     + "".join(f"<li><code>{_e(name)}</code>: {_e(text)}</li>"
                               for name, text in excluded) + "</ul></details>")
    png, why = timeline_image(run)
    if png is not None:
        data = base64.b64encode(png).decode("ascii")
        parts.append("<h3>Who ran when</h3><p class=small>One more execution of each point, "
                     "recorded after its timed blocks (cvpbench --trace): a lane per worker, "
                     "a bar per task or request CPU part, coloured by the CPU it ran on. "
                     "<code>cvp timeline</code> draws other points; trace.json opens in "
                     "Perfetto's UI.</p>"
                     f'<img alt="timeline" src="data:image/png;base64,{data}">')
    elif why:
        parts.append(f"<p class=warn>No timeline: {_e(why)}</p>")
    table = workloads_table(run)
    if table:
        parts.append("<h3>Workloads</h3><p class=small>As the run describes them: what "
                     "limits each (its kind), the unit its work is counted in, and the "
                     "model its bound comes from.</p>" + table)
    return parts


_NOTE = ("<p class=small>Times are wall-clock medians of the repetitions with 95% "
         "confidence intervals; speedups are ratios of medians against the serial run "
         "of the same backend on the same machine (for I/O-bound work, per request), "
         "whose absolute time is given with the baseline (hover for its full name). The "
         "ideal bound is what the mode can reach at best on identical cores, by the "
         "workload's own bound model (listed with the workloads where the run describes "
         "them): the cores for parallel CPU-bound work, 1 for concurrent work on one core, "
         "min(K, P(c+w)/c) for I/O-bound work. The attainable bound is what this machine "
         "allows as measured (its cores' capacities with the team busy, for memory-bound "
         "work also the bandwidth; hover for its model). bound reads attainable / ideal, "
         "and eff. speedup / attainable bound / speedup / ideal; where the two bounds are "
         "within 1%, one number (as for runs written before rows carried an attainable "
         "bound). "
         "cpu/wall is process CPU time over "
         "wall time (about 1 on one busy core, about P on P); CPUs seen are the CPUs the "
         "tasks ran on; pinned says whether every task ran where it was pinned.</p>")


def build_report(runs, title="cvpbench report", verbose=False):
    """The whole page as a string. `runs`: a list of runs, or a Selection from `gather` (the
    first `detail` runs get sections of their own; every run is in the table)."""
    sel = runs if isinstance(runs, plots.Selection) else gather(runs)
    titles = plots.digest_titles(sel.digests)
    detailed = sel.detailed()
    partial = len(detailed) < sel.total
    if partial:
        titles = [f"run {d.number:,} of {sel.total:,}: {t}" for d, t in zip(sel.digests, titles)]
        sources = (f"{sel.total:,} inputs, listed in the table of runs; the first "
                   f"{len(detailed)} have a section of their own")
    else:
        sources = ", ".join(f"<code>{_e(d.name)}</code>" for d in sel.digests)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class=small>Generated by cvp {_e(__version__)} from: {sources}.</p>",
    ]
    images = chart_images(sel)
    if sel.total > 1:
        parts += _all_runs_section(sel, images, partial, len(detailed))
    for number, run in detailed:
        parts += _run_section(run, titles[number - 1], verbose)
    parts.append("<h2>Charts</h2>")
    shown = [(name, png, caption) for name, png, caption in images if name != "runs"]
    if not shown:
        parts.append("<p>No chart has data to draw.</p>")
    for name, png, caption in shown:
        parts.append(_image(name, png, caption))
    for number, run in detailed:
        parts.append(f"<h2>Results: {_e(titles[number - 1])}</h2>" + results_tables(run))
    parts.append(_NOTE)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
