"""One self-contained HTML page: machine context, verdicts, charts (embedded PNG), results.

The page loads nothing from the network (a Content-Security-Policy forbids it) and every string
taken from an input file is HTML-escaped, so a hostile host name shows as text.
"""

import base64
import html
import json

from . import __version__
from . import plots
from .compare import format_seconds
from .results import live_results, machine_label, result_name

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1b1b1b;
     max-width:1400px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:0.85em;margin:8px 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
.warn{color:#9a3b00} img{max-width:100%;border:1px solid #eee;margin:8px 0}
ul.verdicts li{margin:3px 0} .small{color:#555;font-size:0.85em}
"""


def _e(value):
    return html.escape(str(value), quote=True)


def _kv_table(pairs):
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)
    return f"<table>{rows}</table>"


def _caches(caches):
    parts = []
    for c in caches:
        size = c.get("size_bytes", 0)
        size_text = f"{size // (1024 * 1024)} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"
        shared = f" shared by {c['shared_by']}" if "shared_by" in c else ""
        parts.append(f"L{c.get('level', '?')} {c.get('type', '')} {size_text}{shared}")
    return "; ".join(parts) or "none reported"


def machine_pairs(run):
    m, tool, config = run.doc["machine"], run.doc["tool"], run.doc["config"]
    libs = ", ".join(f"{k} {v}" for k, v in m.get("libraries", {}).items())
    pairs = [
        ("CPU model", m["cpu_model"]),
        ("cores", f"{m['physical_cores']} physical, {m['logical_cpus']} logical, "
                  f"SMT {'on' if m['smt'] else 'off'}"),
        ("allowed CPUs", ", ".join(str(c) for c in m["allowed_cpus"])),
        ("caches", _caches(m.get("caches", []))),
        ("governor", m["governor"]),
        ("compiler and flags", f"{m['compiler']} {m['flags']}"),
        ("libraries", libs),
        ("OS", m["os"]), ("host", m["host"]), ("date", m["date"]),
        ("tool", f"{tool['name']} {tool['version']} (commit {tool['git_commit']})"),
        ("configuration", f"quick={json.dumps(config['quick'])}, "
                          f"repetitions={config['repetitions']}"),
    ]
    for key, label in (("time_measurement", "time measurement"),
                       ("summary_method", "summary method")):
        if key in config:
            pairs.append((label, config[key]))
    return pairs


def _warnings(run):
    out = []
    if run.doc.get("interrupted"):
        out.append("The run was interrupted: results are incomplete.")
    for err in run.doc.get("errors", []):
        out.append(f"Error: {err.get('message', err)}")
    for r in run.doc.get("results", []):
        if r.get("error"):
            out.append(f"{result_name(r)}: {r['error']}")
        elif not r["evidence"]["pinned"]:
            out.append(f"{result_name(r)}: workers were not pinned as intended "
                       f"(seen on CPUs {r['evidence']['cpus_seen']}).")
    return out


def _num(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}g}"


def results_table(run):
    head = ["benchmark", "kind", "mode", "backend", "threads", "cores", "in flight",
            "wall median [95% CI]", "speedup [95% CI]", "bound", "efficiency", "baseline",
            "throughput", "latency p50 / p95 / p99 (us)"]
    rows = []
    for r in live_results(run):
        wall, sp = r["wall_s"], r["speedup"]
        base = sp.get("baseline_wall_s")
        baseline = sp["baseline"] + (f" ({format_seconds(base)})" if base is not None else "")
        lat = r.get("latency_us")
        lat_text = f"{_num(lat['p50'])} / {_num(lat['p95'])} / {_num(lat['p99'])}" if lat else ""
        cells = [
            (result_name(r), False), (r["kind"], False), (r["mode"], False),
            (r["backend"], False), (r["threads"], True), (r["cores"], True),
            (r["in_flight"], True),
            (f"{format_seconds(wall['median'])} [{format_seconds(wall['ci95'][0])}, "
             f"{format_seconds(wall['ci95'][1])}]", True),
            (f"{sp['value']:.3f} [{sp['ci95'][0]:.3f}, {sp['ci95'][1]:.3f}]", True),
            (f"{r['bound']:g}", True), (f"{r['efficiency']:.2f}", True), (baseline, False),
            (f"{_num(r['throughput']['value'], 4)} {r['throughput']['unit']}", True),
            (lat_text, True),
        ]
        rows.append("<tr>" + "".join(f"<td{' class=n' if n else ''}>{_e(v)}</td>"
                                     for v, n in cells) + "</tr>")
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def chart_images(runs):
    """[(chart name, PNG bytes)] for every chart that has something to draw."""
    return [(name, plots.render(plots.build(name, runs), "png"))
            for name in plots.available(runs)]


_CHART_TITLES = {
    "speedup": "Speedup per workload, mode and backend (bound hatched)",
    "scaling": "Parallel scaling (ideal, Amdahl fit, Karp-Flatt)",
    "io": "I/O-bound throughput vs requests in flight",
    "crossover": "Crossover: speedup vs CPU share of a request",
}


def build_report(runs, title="cvpbench report"):
    """The whole page as a string."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src data:; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class=small>Generated by cvp {_e(__version__)} from: "
        + ", ".join(f"<code>{_e(r.path)}</code>" for r in runs) + ".</p>",
    ]
    for run in runs:
        parts.append(f"<h2>{_e(machine_label(run, 80))} &mdash; {_e(run.doc['machine']['host'])}"
                     "</h2>")
        verdicts = run.doc.get("verdicts", [])
        if verdicts:
            parts.append("<h3>Verdicts</h3><ul class=verdicts>"
                         + "".join(f"<li>{_e(v)}</li>" for v in verdicts) + "</ul>")
        warnings = _warnings(run)
        if warnings:
            parts.append("<ul class=warn>" + "".join(f"<li>{_e(w)}</li>" for w in warnings)
                         + "</ul>")
        parts.append("<h3>Machine and configuration</h3>" + _kv_table(machine_pairs(run)))
    parts.append("<h2>Charts</h2>")
    images = chart_images(runs)
    if not images:
        parts.append("<p>No chart has data to draw.</p>")
    for name, png in images:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h3>{_e(_CHART_TITLES[name])}</h3>"
                     f'<img alt="{_e(name)} chart" src="data:image/png;base64,{data}">')
    for run in runs:
        parts.append(f"<h2>Results: {_e(machine_label(run, 80))} &mdash; "
                     f"{_e(run.doc['machine']['host'])}</h2>" + results_table(run))
    parts.append("<p class=small>Times are wall-clock medians of the repetitions with 95% "
                 "confidence intervals; speedups are ratios of medians against the serial run of "
                 "the same backend on the same machine, whose absolute time is given as the "
                 "baseline. The bound is what the mode can reach at best: cores for parallel "
                 "CPU-bound work, 1 for concurrent CPU-bound work, min(K, P(c+w)/c) for "
                 "I/O-bound work.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
