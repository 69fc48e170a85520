"""Charts from cvpbench summaries, one column per input file (machines side by side).

  speedup    speedup per workload x mode x backend, 95% CI whiskers, the bound beside each bar
  scaling    parallel speedup vs threads per backend: ideal line, Amdahl fit (serial fraction),
             Karp-Flatt per point
  io         throughput vs requests in flight per mode/backend, with the throughput bound
  crossover  speedup vs CPU share c/(c+w) for a sweep of c_us at fixed w_us and k, with bounds

`build(name, runs)` returns a matplotlib Figure (no pyplot, no global state) or raises CvpError
when there is nothing to draw; `render(fig, fmt)` returns the file's bytes.
"""

import io as _bytes_io
from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402  (the backend must be chosen first)

from . import CvpError  # noqa: E402
from . import stats  # noqa: E402
from .results import format_value, live_results, machine_label, params_label  # noqa: E402

CHARTS = ("speedup", "scaling", "io", "crossover")
FORMATS = ("png", "svg")
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]


def _txt(text):
    """Text from a file, shown literally: '$' would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")


def _column_title(run):
    host = run.doc["machine"].get("host", "")
    return _txt(f"{machine_label(run, 50)}\n{host[:40]}")


class _Colours:
    """The same (mode, backend) gets the same colour in every panel and every chart."""

    def __init__(self):
        self._seen = {}

    def __call__(self, key):
        if key not in self._seen:
            self._seen[key] = _PALETTE[len(self._seen) % len(_PALETTE)]
        return self._seen[key]


def _series_label(mode, backend):
    return _txt(f"{mode} · {backend}")


def _ci_yerr(value, ci):
    lo, hi = ci
    return [[max(0.0, value - lo)], [max(0.0, hi - value)]]


# Params that describe how a point was sized or which sweep it came from, not what it measures.
_BOOKKEEPING = ("requests", "crossover")


def _params_without(r, *names):
    skip = set(names) | set(_BOOKKEEPING)
    return tuple((k, v) for k, v in r["params"].items() if k not in skip)


def _numeric_order(key):
    """Sort ((name, value), ...) with numbers by value, so c_us=10 comes before c_us=100."""
    return tuple((0, float(v), "") if isinstance(v, (int, float)) and not isinstance(v, bool)
                 else (1, 0.0, str(v)) for _, v in key)


def _has_speedup(r):
    """A non-serial result with a measured speedup (0 means the baseline was unavailable)."""
    return r["mode"] != "serial" and r["speedup"]["value"] > 0


def _groups(results, key):
    out = OrderedDict()
    for r in results:
        out.setdefault(key(r), []).append(r)
    return out


def _panel_grid(rows, cols, width, height, sharey):
    fig = Figure(figsize=(max(4.0, width * cols), max(3.0, height * rows)))
    axes = fig.subplots(rows, cols, squeeze=False, sharey="row" if sharey else False)
    return fig, axes


def _empty(ax, why):
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


# --- speedup ------------------------------------------------------------------------------------

def _varying(keys):
    """Names whose value differs between the given ((name, value), ...) tuples."""
    seen = {}
    for key in keys:
        for k, v in key:
            seen.setdefault(k, set()).add(repr(v))
    return [k for k, values in seen.items() if len(values) > 1]


def _speedup_bars(run, kind):
    """[(group label, [result])] for one kind: per group of params (k aside), one bar per
    mode/backend, the one with the most requests in flight, then the most threads."""
    results = [r for r in live_results(run) if r["kind"] == kind and _has_speedup(r)]
    out = []
    for workload, members in _groups(results, lambda r: r["workload"]).items():
        groups = _groups(members, lambda r: _params_without(r, "k"))
        varying = _varying(groups)
        for key, group in sorted(groups.items(), key=lambda item: _numeric_order(item[0])):
            best = OrderedDict()
            for r in group:
                k = (r["mode"], r["backend"])
                if k not in best or (r["in_flight"], r["threads"]) > (best[k]["in_flight"],
                                                                      best[k]["threads"]):
                    best[k] = r
            shown = " ".join(f"{k}={format_value(v)}" for k, v in key if k in varying)
            label = workload + ("\n" + shown if shown else "")
            out.append((label, list(best.values())))
    return out


def _constant_params(run, kind):
    results = [r for r in live_results(run) if r["kind"] == kind and _has_speedup(r)]
    parts = []
    for workload, members in _groups(results, lambda r: r["workload"]).items():
        keys = [_params_without(r, "k") for r in members]
        varying = set(_varying(keys))
        fixed = [f"{k}={format_value(v)}" for k, v in keys[0] if k not in varying]
        if kind == "io":
            fixed.append("most requests in flight (k) measured")
        parts.append(f"{workload}: {', '.join(fixed)}" if fixed else workload)
    return "; ".join(parts)


def _draw_speedup(ax, run, kind, colours):
    groups = _speedup_bars(run, kind)
    if not groups:
        return False
    x = 0.0
    ticks, labels, seen = [], [], set()
    width = 0.8
    for label, members in groups:
        start = x
        for r in members:
            key = (r["mode"], r["backend"])
            value = r["speedup"]["value"]
            ax.bar(x, value, width * 0.62, color=colours(key),
                   yerr=_ci_yerr(value, r["speedup"]["ci95"]), capsize=2, ecolor="#222222",
                   label=None if key in seen else _series_label(*key))
            ax.bar(x + width * 0.5, r["bound"], width * 0.28, fill=False, hatch="///",
                   edgecolor="#555555", linewidth=0.6,
                   label=None if "bound" in seen else "bound")
            seen.update({key, "bound"})
            x += width * 1.1
        ticks.append((start + x - width * 1.1) / 2)
        labels.append(_txt(label))
        x += 0.6
    ax.axhline(1.0, color="#444444", linewidth=0.8, linestyle=":")
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    tops = [max(r["bound"], r["speedup"]["ci95"][1]) for _, m in groups for r in m]
    if max(tops) > 12:
        ax.set_yscale("log")
        ax.set_ylim(top=max(tops) * 4)
        ax.set_ylabel(f"{kind}: speedup over serial (log)")
    else:
        ax.set_ylim(0, max(tops) * 1.45)
        ax.set_ylabel(f"{kind}: speedup over serial")
    ax.legend(fontsize=6, ncol=3, loc="upper left")
    return True


# --- scaling ------------------------------------------------------------------------------------

def _scaling_groups(run):
    cpu = [r for r in live_results(run)
           if r["kind"] == "cpu" and r["mode"] == "parallel" and r["speedup"]["value"] > 0]
    groups = _groups(cpu, lambda r: (r["workload"], params_label(r["params"])))
    return OrderedDict((k, v) for k, v in groups.items() if any(r["threads"] > 1 for r in v))


def _processors(r):
    """Cores actually available to the point: SMT and oversubscribed threads add none."""
    return min(r["threads"], r["cores"])


def _draw_scaling(ax, members, colours):
    top_threads, top_cores = 1, 1
    by_backend = _groups(members, lambda r: r["backend"])
    # Karp-Flatt e per point goes in an inset: e vs threads, one line per backend.
    inset = ax.inset_axes([0.62, 0.1, 0.35, 0.3])
    for backend, points in by_backend.items():
        points = sorted(points, key=lambda r: r["threads"])
        colour = colours(("parallel", backend))
        label = _txt(backend)
        # Amdahl's law is about processors: fit the points with one thread per core.
        fit = [(r["threads"], r["speedup"]["value"]) for r in points if r["threads"] <= r["cores"]]
        if not any(p == 1 for p, _ in fit):
            fit.append((1, 1.0))
        if any(p > 1 for p, _ in fit):
            f, _ = stats.amdahl_fit([p for p, _ in fit], [s for _, s in fit])
            top_fit = max(p for p, _ in fit)
            fine = [1 + i * (top_fit - 1) / 60 for i in range(61)]
            ax.plot(fine, stats.amdahl_speedup(fine, f), "--", color=colour, linewidth=1)
            label += f"  (Amdahl f = {f:.3f})"
        p = [r["threads"] for r in points]
        s = [r["speedup"]["value"] for r in points]
        yerr = [[max(0.0, v - r["speedup"]["ci95"][0]) for v, r in zip(s, points)],
                [max(0.0, r["speedup"]["ci95"][1] - v) for v, r in zip(s, points)]]
        ax.errorbar(p, s, yerr=yerr, marker="o", color=colour, capsize=2, label=label)
        beyond = [(pi, si) for r, pi, si in zip(points, p, s) if r["threads"] > r["cores"]]
        if beyond:
            ax.scatter(*zip(*beyond), marker="o", facecolor="white", edgecolor=colour, zorder=4)
        kf = [(pi, stats.karp_flatt(si, _processors(r))) for r, pi, si in zip(points, p, s)]
        kf = [(pi, e) for pi, e in kf if e is not None]
        if kf:
            inset.plot(*zip(*kf), marker=".", color=colour, linewidth=0.8)
        top_threads = max(top_threads, max(p))
        top_cores = max(top_cores, max(r["cores"] for r in points))
    xs = sorted({1, top_cores, top_threads})
    ax.plot(xs, [min(x, top_cores) for x in xs], ":", color="#222222", linewidth=1,
            label=f"ideal (up to {top_cores} cores)")
    ax.scatter([], [], marker="o", facecolor="white", edgecolor="#555555",
               label="hollow: more threads than cores")
    log_x = top_threads > 4 * top_cores or top_threads >= 16
    for axis in (ax, inset):
        if log_x:
            axis.set_xscale("log", base=2)
    highest = max(r["speedup"]["ci95"][1] for r in members)
    ax.set_ylim(top=max(top_cores, highest) * 1.3)
    inset.set_title("Karp-Flatt e (serial fraction)", fontsize=6)
    inset.tick_params(labelsize=6)
    inset.set_ylim(bottom=0)
    ax.set_xlabel("threads")
    ax.set_ylabel("speedup over serial")
    ax.legend(fontsize=7, loc="upper left")


# --- io -----------------------------------------------------------------------------------------

def _io_groups(run):
    io = [r for r in live_results(run) if r["kind"] == "io"]
    groups = _groups(io, lambda r: (r["workload"], params_label(
        r["params"], skip=("k",) + _BOOKKEEPING)))
    return OrderedDict((k, v) for k, v in groups.items()
                       if len({r["in_flight"] for r in v if r["mode"] != "serial"}) >= 2)


def _serial_for(members, result):
    """The serial result of the same group that `result`'s speedup is relative to."""
    serial = [r for r in members if r["mode"] == "serial"]
    wanted = result["speedup"].get("baseline", "")
    for r in serial:
        if r.get("name") == wanted or wanted.endswith(f"backend:{r['backend']}"):
            return r
    return serial[0] if serial else None


def _draw_io(ax, members, colours):
    unit = members[0]["throughput"]["unit"]
    for r in members:
        if r["mode"] == "serial":
            ax.scatter([r["in_flight"]], [r["throughput"]["value"]], marker="s",
                       color=colours(("serial", r["backend"])),
                       label=_series_label("serial", r["backend"]), zorder=3)
    series = _groups([r for r in members if r["mode"] != "serial"],
                     lambda r: (r["mode"], r["backend"]))
    for key, points in series.items():
        points = sorted(points, key=lambda r: r["in_flight"])
        colour = colours(key)
        k = [r["in_flight"] for r in points]
        ax.plot(k, [r["throughput"]["value"] for r in points], marker="o", color=colour,
                label=_series_label(*key))
        bounds = []
        for r in points:
            base = _serial_for(members, r)
            bounds.append(r["bound"] * base["throughput"]["value"] if base else None)
        if all(b is not None for b in bounds) and all(r["speedup"]["value"] > 0 for r in points):
            ax.plot(k, bounds, "--", color=colour, linewidth=0.9, alpha=0.8)
    ax.plot([], [], "--", color="#555555", label="bound (dashed)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("requests in flight (K)")
    ax.set_ylabel(_txt(f"throughput ({unit})"))
    ax.legend(fontsize=7)


# --- crossover ----------------------------------------------------------------------------------

def _crossover_groups(run):
    io = [r for r in live_results(run) if r["kind"] == "io" and "c_us" in r["params"]
          and "w_us" in r["params"] and _has_speedup(r)]
    groups = _groups(io, lambda r: (r["workload"], params_label(
        r["params"], skip=("c_us",) + _BOOKKEEPING)))
    return OrderedDict((k, v) for k, v in groups.items()
                       if len({r["params"]["c_us"] for r in v if r["mode"] != "serial"}) >= 2)


def _cpu_share(r):
    c, w = float(r["params"]["c_us"]), float(r["params"]["w_us"])
    return c / (c + w)


def _draw_crossover(ax, members, colours):
    series = _groups(members, lambda r: (r["mode"], r["backend"]))
    for key, points in series.items():
        points = sorted(points, key=_cpu_share)
        x = [_cpu_share(r) for r in points]
        y = [r["speedup"]["value"] for r in points]
        yerr = [[max(0.0, v - r["speedup"]["ci95"][0]) for v, r in zip(y, points)],
                [max(0.0, r["speedup"]["ci95"][1] - v) for v, r in zip(y, points)]]
        colour = colours(key)
        ax.errorbar(x, y, yerr=yerr, marker="o", color=colour, capsize=2,
                    label=_series_label(*key))
        ax.plot(x, [r["bound"] for r in points], "--", color=colour, linewidth=0.9, alpha=0.8)
    ax.plot([], [], "--", color="#555555", label="bound (dashed)")
    ax.axhline(1.0, color="#444444", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("CPU share of a request, c / (c + w)")
    ax.set_ylabel("speedup over serial")
    ax.legend(fontsize=7)


# --- assembly -----------------------------------------------------------------------------------

_NEEDS = {
    "speedup": "results other than serial",
    "scaling": "parallel cpu results with more than one thread",
    "io": "io results at two or more requests-in-flight values",
    "crossover": "io results at two or more c_us values with fixed w_us and k",
}


def _names(runs):
    return ", ".join(r.path for r in runs)


def build(name, runs):
    """A Figure for chart `name` with one column per run. CvpError if nothing to draw."""
    colours = _Colours()
    cols = len(runs)
    if name == "speedup":
        kinds = [k for k in ("cpu", "io") if any(_speedup_bars(r, k) for r in runs)]
        if not kinds:
            raise CvpError(f"{_names(runs)}: nothing to draw for the speedup chart "
                           f"(needs {_NEEDS['speedup']})")
        bars = max(sum(len(m) for _, m in _speedup_bars(r, k)) for r in runs for k in kinds)
        fig, axes = _panel_grid(len(kinds), cols, 1.8 + 0.25 * bars, 4.6, sharey=True)
        for c, run in enumerate(runs):
            for i, kind in enumerate(kinds):
                ax = axes[i][c]
                if not _draw_speedup(ax, run, kind, colours):
                    _empty(ax, "not measured on this machine")
                heading = _txt(_constant_params(run, kind))
                ax.set_title((_column_title(run) + "\n" if i == 0 else "") + heading, fontsize=8)
        fig.suptitle("Speedup over serial (most threads per mode and backend), 95% CI; "
                     "hatched: the bound", fontsize=10)
        fig.tight_layout()
        return fig

    finder, drawer, title = {
        "scaling": (_scaling_groups, _draw_scaling,
                    "Parallel scaling: speedup vs threads, ideal line, Amdahl fit (dashed)"),
        "io": (_io_groups, _draw_io, "I/O-bound: throughput vs requests in flight"),
        "crossover": (_crossover_groups, _draw_crossover,
                      "Crossover: speedup vs CPU share of a request"),
    }.get(name, (None, None, None))
    if finder is None:
        raise CvpError(f"unknown chart {name!r} (choose from {', '.join(CHARTS)})")
    per_run = [finder(run) for run in runs]
    rows = list(OrderedDict.fromkeys(k for groups in per_run for k in groups))
    if not rows:
        raise CvpError(f"{_names(runs)}: nothing to draw for the {name} chart "
                       f"(needs {_NEEDS[name]})")
    fig, axes = _panel_grid(len(rows), cols, 6.2, 4.2, sharey=name != "scaling")
    for c, (run, groups) in enumerate(zip(runs, per_run)):
        for i, key in enumerate(rows):
            ax = axes[i][c]
            if key in groups:
                drawer(ax, groups[key], colours)
            else:
                _empty(ax, "not measured on this machine")
            heading = _txt(f"{key[0]}  {key[1]}")
            ax.set_title((_column_title(run) + "\n" if i == 0 else "") + heading, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def available(runs):
    """The charts that have something to draw for these runs."""
    out = []
    for name in CHARTS:
        if name == "speedup":
            ok = any(_speedup_bars(r, k) for r in runs for k in ("cpu", "io"))
        else:
            finder = {"scaling": _scaling_groups, "io": _io_groups,
                      "crossover": _crossover_groups}[name]
            ok = any(finder(r) for r in runs)
        if ok:
            out.append(name)
    return out


def render(fig, fmt, dpi=110):
    """The figure's bytes in `fmt` (png or svg), without a timestamp so output is reproducible."""
    buffer = _bytes_io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "cvpbench"}):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def render_charts(runs, names=None, formats=FORMATS):
    """{file name: bytes} for the requested charts (default: every chart with something to draw).
    Charts asked for by name must have something to draw."""
    if names:
        chosen = list(names)
    else:
        chosen = available(runs)
        if not chosen:
            raise CvpError(f"{_names(runs)}: nothing to draw (no chart has data: needs "
                           f"results other than serial)")
    files = OrderedDict()
    for name in chosen:
        fig = build(name, runs)
        for fmt in formats:
            files[f"{name}.{fmt}"] = render(fig, fmt)
    return files
