"""Charts from cvpbench summaries, one column per input file (machines side by side).

  speedup    the headline: per workload group (kinds cpu, memory, io, in that order), serial,
             concurrent and parallel at the cores (the points the verdict lines quote), 95% CI
             whiskers, each bar inside its attainable bound (dashed outline) and, where it
             differs by more than 1%, the ideal bound (a thin line)
  scaling    parallel speedup vs threads per backend for cpu and memory kinds: the ideal line,
             the bound where it is not the ideal (a memory workload's bandwidth), for cpu kinds
             an Amdahl fit (serial fraction) and Karp-Flatt e per point in a panel below, for
             others the speedup as a fraction of its bound in that panel
  weak       weak against strong scaling, per group with weak-scaling points: speedup vs workers
             P (threads x ranks) for the strong points (the group's problem) and the weak ones
             (the problem grown with P: the scaled speedup), the ideal S = P, an Amdahl fit of
             the strong points and a Gustafson fit S = P - s (P - 1) of the weak ones, with the
             fitted serial fractions in the legend; distributed points are series of their own
  io         throughput vs requests in flight per mode/backend, 95% CI, with the throughput bound
  crossover  speedup vs CPU share c/(c+w) for a sweep of c_us at fixed w_us and k, with bounds

Kinds, groups, headline points and bounds come from the summary (each result's `kind`,
`group`, `headline`, `bound` (the ideal), `attainable` (the bound this machine allows, drawn
where the charts draw "the bound"; runs written before it read as attainable = ideal) and
`bound_model`), so a user's workload of any name is drawn like
the built-in ones; summaries written before those fields group by parameters and leave the
crossover sweep out of the headline, as before.

Every chart takes its colours from one map, `series_colour(mode, backend)`, so a series looks
the same everywhere; every panel has an axis of its own (a 2-core machine is not drawn on the
scale of a 16-core one); every column is titled with the machine, the host, the date, the
commit and the input's folder, so two runs of one host can be told apart.

  runs       every run at once: per workload, the concurrency and parallelism speedups the
             verdict lines quote, one point per run in input order (95% CI, bound), and their
             distribution across the runs

Many runs: `gather(runs, detail)` reads the runs one at a time and keeps a small `Digest` of
every run (titles, the headline points, which charts it has data for) and the whole document of
only the few runs a detailed chart can draw: the first `detail` runs, and for each chart the
first `detail` runs with data for it. The detailed charts draw at most `detail` runs side by
side (MAX_DETAIL at most) and MAX_ROWS workloads, and say in their title which runs and rows
they draw out of how many; the `runs` chart shows every run. No figure exceeds MAX_SIDE_PX on
a side or MAX_PIXELS in all, whatever the input.

`build(name, runs)` returns a matplotlib Figure (no pyplot, no global state) or raises CvpError
when there is nothing to draw (`runs`: a list of runs or a Selection from `gather`);
`render(fig, fmt)` returns the file's bytes.
"""

import io as _bytes_io
import math
import os
import re
import statistics
import textwrap
import zlib
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402  (after the backend)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import (FixedFormatter, FixedLocator, MaxNLocator,  # noqa: E402
                               NullLocator)

from . import CvpError  # noqa: E402
from . import stats  # noqa: E402
from .results import (attainable_bound, attainable_model, bounds_differ,  # noqa: E402
                      format_value, ideal_bound, is_headline, is_weak, kind_rank,
                      live_results, machine_label, params_label, ranks_of, weak_of,
                      workers_of)

DETAIL_CHARTS = ("speedup", "scaling", "io", "crossover")
# Drawn only for runs that carry what they need: weak against strong scaling (runs made with
# --scaling weak|both; a column per run, like the detailed charts) and the roofline (the
# machine's limits).
EXTRA_CHARTS = ("weak", "roofline")
CHARTS = DETAIL_CHARTS + ("runs",)
FORMATS = ("png", "svg")
MODES = ("serial", "concurrent", "parallel", "distributed")

# Inputs at scale: the detailed charts draw this many runs side by side (at most MAX_DETAIL) and
# MAX_ROWS workloads; the runs chart draws every run. Whatever the input, no figure is larger
# than MAX_SIDE_PX on a side or MAX_PIXELS in all (at DPI; an SVG is capped at the same inches).
DEFAULT_DETAIL = 8
MAX_DETAIL = 16
MAX_ROWS = 12
DPI = 110
MAX_SIDE_PX = 8192
MAX_PIXELS = 24_000_000
MAX_SIDE_IN = MAX_SIDE_PX / DPI

# One colour per (mode, backend), in every chart: greys for the serial baselines, cool colours
# for concurrency, warm ones for parallelism.
PALETTE = {
    ("serial", "threads"): "#4d4d4d", ("serial", "openmp"): "#7a7a7a",
    ("serial", "tbb"): "#a3a3a3", ("serial", "eventloop"): "#bdbdbd",
    ("concurrent", "threads"): "#1f77b4", ("concurrent", "openmp"): "#6a3d9a",
    ("concurrent", "tbb"): "#17becf", ("concurrent", "eventloop"): "#2ca02c",
    ("parallel", "threads"): "#d62728", ("parallel", "openmp"): "#e377c2",
    ("parallel", "tbb"): "#8c564b", ("parallel", "eventloop"): "#ff7f0e",
    ("distributed", "threads"): "#9467bd", ("distributed", "openmp"): "#bcbd22",
    ("distributed", "tbb"): "#e6550d",
}
# Weak scaling (the problem grown with the workers) in the weak-vs-strong chart: green for
# one process, olive for ranks, a darker shade per backend.
WEAK_PALETTE = {
    ("parallel", "threads"): "#2ca02c", ("parallel", "openmp"): "#31a354",
    ("parallel", "tbb"): "#74c476",
    ("distributed", "threads"): "#637939", ("distributed", "openmp"): "#8c6d31",
    ("distributed", "tbb"): "#cedb9c",
}
# Weak scaling in the io chart, beside the concurrent points (whose event-loop green the weak
# chart's palette would repeat): dark shades of each strong series' colour.
IO_WEAK_PALETTE = {
    ("parallel", "threads"): "#843c39", ("parallel", "eventloop"): "#a55194",
    ("distributed", "threads"): "#393b79",
}
# Backends cvpbench does not have (yet) get one of these, by a stable hash of (mode, backend).
_SPARE = ["#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd",
          "#e6550d", "#31a354", "#756bb1", "#636363", "#9c9ede", "#cedb9c", "#e7969c",
          "#de9ed6", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#e7ba52"]
_MARKERS = {"threads": "o", "openmp": "s", "tbb": "^", "eventloop": "D"}
_BOUND_EDGE = "#222222"


def series_colour(mode, backend):
    """The colour of (mode, backend) in every chart; a stable spare colour for other names."""
    known = PALETTE.get((mode, backend))
    if known:
        return known
    return _SPARE[zlib.crc32(f"{mode}\0{backend}".encode("utf-8", "replace")) % len(_SPARE)]


def weak_colour(mode, backend):
    """The colour of weak-scaling points of (mode, backend)."""
    return WEAK_PALETTE.get((mode, backend)) or series_colour("weak " + mode, backend)


def series_marker(backend):
    return _MARKERS.get(backend, "v")


def series_label(mode, backend):
    return _txt(f"{mode} · {backend}")


def _txt(text):
    """Text from a file, shown literally: '$' would otherwise start matplotlib mathtext."""
    return str(text).replace("$", r"\$")


# --- run titles ---------------------------------------------------------------------------------

def run_name(run):
    """The input as a short name: its folder for a summary.json/benchmark.json, else the file."""
    head, tail = os.path.split(os.path.normpath(run.path))
    if tail in ("summary.json", "benchmark.json") and os.path.basename(head):
        return os.path.basename(head)
    return tail or run.path


def _short_date(date):
    date = str(date)
    if len(date) >= 16 and date[10] == "T":
        return date[:10] + " " + date[11:16] + (" UTC" if date.endswith("Z") else "")
    return date


def run_title_lines(run):
    """[machine, 'host · date · commit', input name]: what tells this run from any other."""
    m, tool = run.doc["machine"], run.doc.get("tool", {})
    commit = str(tool.get("git_commit") or "unknown")[:12]
    return [machine_label(run, 50),
            f"{str(m.get('host', ''))[:30]} · {_short_date(m.get('date', ''))} · commit {commit}",
            run_name(run)[:60]]


def title_suffixes(keys):
    """' (input N)' for title lines that would otherwise read the same, else '' (linear)."""
    counts = Counter(keys)
    return [f" (input {i + 1})" if counts[k] > 1 else "" for i, k in enumerate(keys)]


def run_titles(runs):
    """One title per run (one line), all different."""
    return digest_titles(_selection(runs).digests)


def digest_titles(digests):
    """One title per digest (one line), all different among these digests."""
    keys = [d.title_lines for d in digests]
    return [" \u2014 ".join(k) + s for k, s in zip(keys, title_suffixes(keys))]


def _column_titles(sel, numbers):
    """Titles of the columns drawn (run numbers, 1-based); each says which run it is when the
    chart draws fewer runs than were given."""
    suffixes = title_suffixes([d.title_lines for d in sel.digests])
    partial = len(numbers) < sel.total
    out = []
    for n in numbers:
        machine, when, name = sel.digests[n - 1].title_lines
        if partial:
            name = f"run {n} of {sel.total:,}: {name}"
        out.append(_txt("\n".join((machine, when, name)) + suffixes[n - 1]))
    return out


def _machine_order(sel, numbers):
    """The run numbers drawn, the runs of one machine (model and host) side by side: machines
    in the order they first appear, runs in input order within each."""
    by_machine = OrderedDict()
    for n in numbers:
        machine, when, _ = sel.digests[n - 1].title_lines
        by_machine.setdefault((machine, when.split(" \u00b7 ")[0]), []).append(n)
    return [n for ns in by_machine.values() for n in ns]


@dataclass
class Grid:
    """Where a detailed chart's panels go: per row (a workload), the columns (indexes into the
    runs drawn) that have it, runs grouped by machine; a run without a workload gets no panel
    in its row. `aligned`: every run has every row, so each column is one run and only the
    first row carries the runs' titles; otherwise every panel carries its own."""
    rows: list
    columns: int
    aligned: bool
    inches: float = 6.0  # a panel's width

    def title(self, titles, i, c, heading):
        """A panel's title: its run (where the grid says so) and its own workload, wrapped to
        the panel's width."""
        heading = "\n".join(textwrap.wrap(heading, max(30, int(self.inches * 15))))
        return (titles[c] + "\n" if i == 0 or not self.aligned else "") + heading


def _grid(sel, numbers, per_run, rows, inches):
    """The Grid of rows (keys) over the runs drawn (`per_run`: each run's {key: data}), panels
    `inches` wide."""
    position = {n: i for i, n in enumerate(numbers)}
    order = [position[n] for n in _machine_order(sel, numbers)]
    placed = [[c for c in order if key in per_run[c]] for key in rows]
    aligned = all(len(p) == len(numbers) for p in placed)
    return Grid(placed, max(len(p) for p in placed), aligned, inches)


def _hide_unused(axes, grid):
    """The grid's cells beyond a row's panels are not drawn at all."""
    for i, placed in enumerate(grid.rows):
        for j in range(len(placed), grid.columns):
            axes[i][j].set_visible(False)


def shown_runs(numbers, total):
    """'1-8' / '1, 3, 5-9': run numbers, runs of three or more as ranges."""
    parts, i = [], 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(f"{numbers[i]:,}-{numbers[j]:,}" if j - i >= 2 else
                     ", ".join(f"{x:,}" for x in numbers[i:j + 1]))
        i = j + 1
    return ", ".join(parts) or "none"


# --- many runs: a digest of each, whole documents only for the runs drawn in detail -------------

@dataclass
class Digest:
    """What the runs chart and the report's table of runs need of one run: a few hundred bytes,
    where the whole document is a few hundred kilobytes (its samples, evidence, every point)."""
    number: int           # 1-based position among the inputs
    path: str
    name: str
    title_lines: tuple    # (machine, 'host · date · commit', input name)
    headline: tuple       # ({"kind", "label", "sort", "verdict_backend", "quoted"}, ...)
    charts: frozenset     # the detailed charts this run has something to draw for
    results: int          # results with a measurement
    extra: object = None  # what the caller's `extra(run)` returned (the report's facts)


@dataclass
class Selection:
    """Every run's Digest and the whole Run of the few that detailed charts draw."""
    digests: list
    kept: dict = field(default_factory=dict)   # run number -> Run
    detail: int = DEFAULT_DETAIL

    @property
    def total(self):
        return len(self.digests)

    @property
    def paths(self):
        return [d.path for d in self.digests]

    def drawn(self, chart):
        """Run numbers a detailed chart draws: every run when there are at most `detail`, else
        the first `detail` runs that have data for the chart."""
        if self.total <= self.detail:
            return list(range(1, self.total + 1))
        return [d.number for d in self.digests if chart in d.charts][:self.detail]

    def detailed(self):
        """The first `detail` runs, whole: the report gives each a section of its own."""
        return [(n, self.kept[n]) for n in range(1, min(self.total, self.detail) + 1)]


def _compact(r):
    """The numbers of one headline point, without the document around it."""
    sp = r["speedup"]
    return {"mode": r["mode"], "backend": r["backend"], "value": float(sp["value"]),
            "ci95": (float(sp["ci95"][0]), float(sp["ci95"][1])), "bound": attainable_bound(r)}


def _headline_digest(run):
    out = []
    for g in headline(run):
        quoted = OrderedDict()
        for mode in ("concurrent", "parallel"):
            point = next((r for r in g["points"].get(mode, [])
                          if r["backend"] == g["verdict_backend"]), None)
            if point is not None:
                quoted[mode] = _compact(point)
        out.append({"kind": g["kind"], "label": g["label"], "verdict_backend":
                    g["verdict_backend"], "quoted": quoted,
                    "sort": (kind_rank(g["kind"]), g["workload"], _numeric_order(g["key"]))})
    return tuple(out)


def digest(run, number=1, extra=None):
    """The Digest of one run (number: its 1-based position among the inputs)."""
    lines = tuple(run_title_lines(run))
    groups = _headline_digest(run)
    charts = {"speedup"} if groups else set()
    charts |= {name for name, finder in _FINDERS.items() if finder(run)}
    return Digest(number=number, path=run.path, name=run_name(run), title_lines=lines,
                  headline=groups, charts=frozenset(charts), results=len(live_results(run)),
                  extra=extra(run) if extra else None)


def gather(runs, detail=DEFAULT_DETAIL, extra=None):
    """Read `runs` (any iterable, consumed once: a generator that loads one file at a time keeps
    memory flat) into a Selection: the Digest of every run, and the whole Run of the first
    `detail` runs and of the first `detail` runs with data for each detailed chart, so at most
    (1 + len(DETAIL_CHARTS)) x detail documents are held however many runs there are."""
    if not 1 <= detail <= MAX_DETAIL:
        raise CvpError(f"at most {MAX_DETAIL} runs can be drawn side by side (asked for {detail})")
    digests, kept = [], {}
    per_chart = Counter()
    for number, run in enumerate(runs, 1):
        d = digest(run, number, extra)
        keep = number <= detail
        for chart in d.charts:
            if per_chart[chart] < detail:
                per_chart[chart] += 1
                keep = True
        if keep:
            kept[number] = run
        digests.append(d)
    return Selection(digests=digests, kept=kept, detail=detail)


def _selection(runs):
    return runs if isinstance(runs, Selection) else gather(runs)


def _names(paths, most=3):
    """The inputs as a short list: the first few and how many more (one line at any count)."""
    paths = list(paths)
    shown = ", ".join(paths[:most])
    return shown if len(paths) <= most else f"{shown} and {len(paths) - most:,} more inputs"


def _selection_note(sel, numbers, rows_drawn, rows_total, chart):
    """What a detailed chart leaves out, in words, for its title ('' when nothing)."""
    parts = []
    if len(numbers) < sel.total:
        parts.append(f"runs {shown_runs(numbers, sel.total)} of {sel.total:,} drawn (the first "
                     f"{sel.detail} with data for the {chart} chart; the runs chart shows every "
                     f"run)")
    if rows_drawn < rows_total:
        parts.append(f"the first {rows_drawn} of {rows_total} workloads drawn")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def _noted(title, note):
    return f"{title}. {note}" if note else title


# --- shared helpers -----------------------------------------------------------------------------

def _ci_yerr(values, ci_pairs):
    return [[max(0.0, v - lo) for v, (lo, _) in zip(values, ci_pairs)],
            [max(0.0, hi - v) for v, (_, hi) in zip(values, ci_pairs)]]


# Params that describe how a point was sized or which sweep it came from, not what it measures.
_BOOKKEEPING = ("requests", "crossover")


def _params_without(r, *names):
    skip = set(names) | set(_BOOKKEEPING)
    return tuple((k, v) for k, v in r["params"].items() if k not in skip)


def _segment_value(text):
    """'512' -> 512, '0.5' -> 0.5, anything else as it is (a group name's values are text)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def group_key(r):
    """(kind, workload, key) of the points that share r's serial baseline. The summary's
    `group` ("triad/n:16777216", "requests/c_us:50/w_us:1000") as ((name, value), ...) of its
    segments after the workload's name; for older files the params less k and the
    bookkeeping."""
    group = r.get("group")
    if isinstance(group, str) and group:
        head, _, rest = group.partition("/")
        segments = rest.split("/") if head == r["workload"] else group.split("/")
        key = []
        for seg in segments:
            if not seg:
                continue
            name, sep, value = seg.partition(":")
            key.append((name, _segment_value(value)) if sep else (seg, None))
        return r["kind"], r["workload"], tuple(key)
    return r["kind"], r["workload"], _params_without(r, "k")


def key_label(workload, key):
    """'matmul n=512', 'requests c_us=50, w_us=1000'."""
    text = ", ".join(k if v is None else f"{k}={format_value(v)}" for k, v in key)
    return workload + (" " + text if text else "")


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


def _figure(**kwargs):
    """A Figure with an Agg canvas of its own (no pyplot): legends can be measured on it."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _empty(ax, why):
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


def _integer_ticks(axis, values):
    """Ticks at the measured values, written as plain integers (1 2 4 8, not 2^0 2^1 ...)."""
    values = sorted(set(values))
    axis.set_major_locator(FixedLocator(values))
    axis.set_major_formatter(FixedFormatter([format_value(float(v)) for v in values]))
    axis.set_minor_locator(NullLocator())


def throughput_ci(r):
    """95% CI of a result's throughput from its wall-time CI: throughput is work / wall time,
    so the interval is value x median / [upper, lower]. None when the CI is missing or zero."""
    value = r["throughput"]["value"]
    median = r["wall_s"]["median"]
    lo, hi = r["wall_s"]["ci95"]
    if not value or median <= 0 or lo <= 0 or hi <= 0:
        return None
    return value * median / hi, value * median / lo


def _series_key(label):
    mode, sep, backend = label.partition(" · ")
    return (mode, backend) if sep and mode in MODES else None


def _figure_legend(fig, axes_list, extra=()):
    """One legend under the panels for everything drawn (a series has one colour everywhere),
    laid out as a table: a column per mode, a row per backend, then the other entries."""
    handles = OrderedDict()
    for ax in axes_list:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label and not label.startswith("_"):
                handles.setdefault(label, handle)
    series = {_series_key(label): (h, label) for label, h in handles.items()
              if _series_key(label)}
    others = [(h, label) for label, h in handles.items() if not _series_key(label)]
    others += [(h, label) for h, label in extra if label not in handles]
    if not series and not others:
        return None
    modes = [m for m in MODES if any(k[0] == m for k in series)]
    backends = list(OrderedDict.fromkeys(k[1] for k in series)) or [""]
    rows = max(len(backends), 2)
    blank = Line2D([], [], linestyle="none")
    cells = []
    for mode in modes:
        for i in range(rows):
            found = series.get((mode, backends[i])) if i < len(backends) else None
            cells.append(found or (blank, ""))
    while others:
        column, others = others[:rows], others[rows:]
        cells += column + [(blank, "")] * (rows - len(column))
    return fig.legend([h for h, _ in cells], [label for _, label in cells], loc="lower center",
                      ncol=len(cells) // rows, fontsize=8, frameon=False, columnspacing=1.6)


def _wrapped(title, fig):
    """The figure's title in lines that fit its width (about 12 characters an inch at 10 pt)."""
    return textwrap.fill(title, width=max(40, int(fig.get_figwidth() * 12)))


def _finish(fig, title, legend):
    """Suptitle on top, the figure legend (if any) below, the panels in between; the figure is
    widened where the legend needs it."""
    bottom = 0.0
    if legend is not None:
        renderer = fig.canvas.get_renderer()
        box = legend.get_window_extent(renderer)
        need = min(box.width / fig.dpi + 0.4, MAX_SIDE_IN)
        if need > fig.get_figwidth():
            fig.set_figwidth(need)
        bottom = (box.height / fig.dpi + 0.1) / fig.get_figheight()
    title = _wrapped(title, fig)
    top = 1 - (0.3 + 0.17 * title.count("\n")) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, top))
    fig.suptitle(title, fontsize=10, y=1 - 0.08 / fig.get_figheight(), va="top")


# --- speedup: the headline ----------------------------------------------------------------------

def cores_used(run):
    """The cores the run could use (the verdict lines' "on N cores")."""
    cores = run.doc.get("machine", {}).get("allowed_cores")
    if isinstance(cores, int) and not isinstance(cores, bool) and cores >= 1:
        return cores
    parallel = [r["cores"] for r in live_results(run) if r["mode"] == "parallel"]
    return max(parallel) if parallel else 1


def _pick(members, mode, backend, in_flight=0, threads=0):
    """cvpbench's own choice (summary.cc, verdicts): the matching point with most in flight."""
    best = None
    for r in members:
        if r["mode"] != mode or r["backend"] != backend:
            continue
        if in_flight and r["in_flight"] != in_flight:
            continue
        if threads and r["threads"] != threads:
            continue
        if best is None or r["in_flight"] > best["in_flight"]:
            best = r
    return best


def _parallel_at_cores(members, backend, cores):
    """The parallel point with one thread per core; failing that (a --threads list without the
    cores) the most threads that still fit on the cores. Never an oversubscribed or SMT point."""
    exact = _pick(members, "parallel", backend, threads=cores)
    if exact is not None:
        return exact
    fitting = [r for r in members if r["mode"] == "parallel" and r["backend"] == backend
               and r["threads"] <= min(cores, r["cores"])]
    return max(fitting, key=lambda r: r["threads"]) if fitting else None


_VERDICT_HEAD = re.compile(r"^(\S+) (n=(\d+)|c=([0-9.]+)(us|ms|s) w=([0-9.]+)(us|ms|s) K=(\d+)):")
_UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6}


def verdict_quotes(run):
    """What each verdict line of the summary says it quotes, as far as it says it:
    [{"workload", "n" | ("c_us", "w_us", "k"), "backend", "tasks", "cores", "line"}].
    "workload" is None for a line in another wording (a user workload's, whose line may start
    with its group's name)."""
    out = []
    for line in run.doc.get("verdicts", []) or []:
        if not isinstance(line, str):
            continue
        head = _VERDICT_HEAD.match(line)
        quote = {"workload": head.group(1) if head else None, "line": line}
        if not head:
            pass  # matched by its group's name, if at all (see _quote_for)
        elif head.group(3):
            quote["n"] = int(head.group(3))
        else:
            quote["c_us"] = float(head.group(4)) * _UNIT_US[head.group(5)]
            quote["w_us"] = float(head.group(6)) * _UNIT_US[head.group(7)]
            quote["k"] = int(head.group(8))
        backend = re.search(r"\[(\S+) backend", line)
        tasks = re.search(r"\((\d+) tasks in flight\)", line)
        cores = re.search(r"parallelism x[0-9.]+ on (\d+) cores?", line)
        quote["backend"] = backend.group(1) if backend else None
        quote["tasks"] = int(tasks.group(1)) if tasks else None
        quote["cores"] = int(cores.group(1)) if cores else None
        out.append(quote)
    return out


def _quote_for(quotes, kind, workload, params, group=None):
    """The verdict line of a group: one that starts with the group's name (a workload's default
    wording), else the built-in wordings: "NAME n=N:" for task-split kinds, "NAME c=.. w=..
    K=..:" for io."""
    if isinstance(group, str) and group:
        for q in quotes:
            if q["line"].startswith(group + ":"):
                return q
    for q in quotes:
        if q["workload"] != workload:
            continue
        try:
            if kind != "io" and "n" in q and float(params.get("n", -1)) == q["n"]:
                return q
            if (kind == "io" and "c_us" in q and abs(float(params.get("c_us", -1)) - q["c_us"])
                    < 1e-6 and abs(float(params.get("w_us", -1)) - q["w_us"]) < 1e-6):
                return q
        except (TypeError, ValueError):
            continue
    return None


def headline(run):
    """The points of the headline chart, per workload group as cvpbench's verdict lines group
    them (the summary's `group`; points with `headline` false, such as the crossover sweep,
    have a chart of their own):
    [{"kind", "workload", "label", "key", "verdict_backend", "verdict_line",
      "points": {mode: [result, ...]}}].

    Per backend: the serial baseline; concurrent with the verdict line's tasks in flight (by
    cvpbench's rule 2 x cores, else the most) for task-split work (kinds cpu and memory), at the
    verdict line's K for io (64, else the most); parallel with one thread per core, the cores
    the verdict line names (task-split), or at K (io). `verdict_backend` is the backend the
    verdict line quotes ([X backend]), else the one cvpbench would quote: threads for
    task-split work, the event loop for io. Groups are ordered by kind: cpu, memory, io."""
    quotes = verdict_quotes(run)
    # A weak-scaling point's speedup is per unit of a grown problem (the scaled speedup): it
    # has a chart of its own, beside the strong points, and stays out of the headline.
    results = [r for r in live_results(run) if r["speedup"]["value"] > 0 and is_headline(r)
               and not is_weak(r)]
    out = []
    grouped = _groups(results, group_key)
    for (kind, workload, key), members in grouped.items():
        if not any(r["mode"] != "serial" for r in members):
            continue
        params = {k: v for k, v in key if v is not None}
        quote = _quote_for(quotes, kind, workload, params, members[0].get("group")) or {}
        cores = quote.get("cores") or cores_used(run)
        backends = list(OrderedDict.fromkeys(r["backend"] for r in members))
        points = OrderedDict((m, []) for m in MODES)
        if kind != "io":
            rule = "threads" if _pick(members, "serial", "threads") else members[-1]["backend"]
            tasks = quote.get("tasks") or 2 * cores
            for b in backends:
                chosen = [_pick(members, "serial", b),
                          _pick(members, "concurrent", b, in_flight=tasks)
                          or _pick(members, "concurrent", b),
                          _parallel_at_cores(members, b, cores)]
                for r in chosen:
                    if r is not None:
                        points[r["mode"]].append(r)
        else:
            flights = [r["in_flight"] for r in members if r["mode"] != "serial"]
            k = quote.get("k") if quote.get("k") in flights else (
                64 if 64 in flights else max(flights))
            rule = "eventloop" if _pick(members, "concurrent", "eventloop", k) else "threads"
            for b in backends:
                for mode in MODES:
                    r = (_pick(members, mode, b) if mode == "serial"
                         else _pick(members, mode, b, in_flight=k))
                    if r is not None:
                        points[mode].append(r)
        verdict_backend = quote.get("backend") if quote.get("backend") in backends else rule
        out.append({"kind": kind, "workload": workload, "label": key_label(workload, key),
                    "key": key, "verdict_backend": verdict_backend,
                    "verdict_line": quote.get("line"),
                    "points": OrderedDict((m, v) for m, v in points.items() if v)})
    out.sort(key=lambda g: (kind_rank(g["kind"]), g["workload"], _numeric_order(g["key"])))
    return out


def _fmt_x(value):
    """x0.98, x1.98, x13.6: the digits cvpbench's verdict lines print."""
    return f"x{value:.1f}" if abs(value) >= 10 else f"x{value:.2f}"


def _cluster_label(mode, members, kind):
    if mode == "serial":
        return "serial\n1 thread"
    flights = sorted({r["in_flight"] for r in members})
    cores = sorted({r["cores"] for r in members})
    cores_text = "/".join(map(str, cores)) + (" core" if cores == [1] else " cores")
    if kind != "io" and mode == "parallel":
        threads = sorted({r["threads"] for r in members})
        return f"parallel\n{'/'.join(map(str, threads))} threads, {cores_text}"
    if kind != "io":
        return f"concurrent\n{'/'.join(map(str, flights))} tasks, {cores_text}"
    return f"{mode}\nK={'/'.join(map(str, flights))}, {cores_text}"


def _draw_bounds(ax, x, width, r):
    """A bar's bounds: the attainable one as a dashed outline, the ideal as a thin line across
    the bar where the two differ by more than 1% (one outline otherwise)."""
    ax.bar(x, attainable_bound(r), width, fill=False, edgecolor=_BOUND_EDGE, linestyle="--",
           linewidth=0.9, zorder=3, label="attainable bound (dashed outline)")
    if bounds_differ(r):
        ax.hlines(ideal_bound(r), x - width / 2, x + width / 2, colors=_BOUND_EDGE,
                  linewidth=0.6, zorder=3, label="ideal bound (thin line)")


def _draw_headline(ax, group):
    points = group["points"]
    everything = [r for members in points.values() for r in members]
    top = max(max(attainable_bound(r), ideal_bound(r), r["speedup"]["ci95"][1],
                  r["speedup"]["value"]) for r in everything)
    ax.set_ylim(0, top * 1.22)
    pad = top * 0.025
    x, width = 0.0, 0.8
    ticks, labels = [], []
    for mode, members in points.items():
        start = x
        for r in members:
            value, ci = r["speedup"]["value"], r["speedup"]["ci95"]
            colour = series_colour(mode, r["backend"])
            ax.bar(x, value, width, color=colour, zorder=2, label=series_label(mode, r["backend"]),
                   yerr=_ci_yerr([value], [ci]), capsize=3, ecolor="#111111",
                   error_kw={"linewidth": 1, "zorder": 4})
            _draw_bounds(ax, x, width, r)
            quoted = r["backend"] == group["verdict_backend"]
            ax.text(x, max(value, ci[1], attainable_bound(r), ideal_bound(r)) + pad,
                    _fmt_x(value), ha="center",
                    va="bottom", fontsize=7, fontweight="bold" if quoted else "normal",
                    color="#000000" if quoted else "#444444", zorder=5)
            x += 1.0
        ticks.append((start + x - 1.0) / 2)
        labels.append(_cluster_label(mode, members, group["kind"]))
        x += 0.7
    ax.axhline(1.0, color="#444444", linewidth=0.8, linestyle=":", zorder=1)
    ax.set_xlim(-0.7, x - 0.7 - 0.3)
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("speedup over serial")
    ax.grid(axis="y", color="#e6e6e6", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)


def _build_speedup(sel):
    numbers = sel.drawn("speedup")
    runs = [sel.kept[n] for n in numbers]
    per_run = [OrderedDict(((g["kind"], g["label"]), g) for g in headline(run)) for run in runs]
    every = sorted(OrderedDict.fromkeys(key for groups in per_run for key in groups),
                   key=lambda k: kind_rank(k[0]))
    if not every:
        raise CvpError(f"{_names(sel.paths)}: nothing to draw for the speedup chart "
                       f"(needs {_NEEDS['speedup']})")
    rows = every[:MAX_ROWS]
    widest = max(sum(len(m) for m in g["points"].values()) for groups in per_run
                 for key, g in groups.items() if key in rows)
    column = min(max(4.5, 1.6 + 0.55 * widest), 14.0)
    grid = _grid(sel, numbers, per_run, rows, column)
    fig = _figure(figsize=(column * grid.columns,
                           (3.3 if grid.aligned else 3.9) * len(rows) + 1.3))
    axes = fig.subplots(len(rows), grid.columns, squeeze=False)
    titles = _column_titles(sel, numbers)
    for i, (row, placed) in enumerate(zip(rows, grid.rows)):
        for j, c in enumerate(placed):
            ax, group = axes[i][j], per_run[c][row]
            _draw_headline(ax, group)
            source = ("as in the verdict line" if group["verdict_line"]
                      else "the backend cvpbench's verdict quotes")
            heading = _txt(f"{group['label']} ({group['kind']}-bound); "
                           f"bold: {group['verdict_backend']}, {source}")
            ax.set_title(grid.title(titles, i, c, heading), fontsize=8)
    _hide_unused(axes, grid)
    legend = _figure_legend(fig, [ax for ax in fig.axes if ax.get_visible()], extra=[
        (Line2D([], [], color="#444444", linestyle=":"), "x1 (serial)")])
    _finish(fig, _noted("Speedup over serial per workload: serial, concurrent, parallel at the "
                        "cores; 95% CI",
                        _selection_note(sel, numbers, len(rows), len(every), "speedup")), legend)
    return _capped(fig)


# --- scaling ------------------------------------------------------------------------------------

SCALING_MODES = ("parallel", "distributed")


def _scaling_groups(run):
    """{(workload, params, kind): parallel and distributed points} of the task-split kinds (cpu,
    memory and kinds this cvp does not know; not io, whose parallelism is K requests in
    flight), in the order cpu, memory, then others, each in file order. Strong scaling only:
    a weak-scaling point (its problem grown with its workers) is drawn in the weak chart."""
    split = [r for r in live_results(run)
             if r["kind"] != "io" and r["mode"] in SCALING_MODES and r["speedup"]["value"] > 0
             and not is_weak(r)]
    groups = _groups(split, lambda r: (r["workload"], params_label(r["params"]), r["kind"]))
    keys = sorted((k for k, v in groups.items() if any(workers_of(r) > 1 for r in v)),
                  key=lambda k: kind_rank(k[2]))
    return OrderedDict((k, groups[k]) for k in keys)


def _attainable_model(members):
    """The attainable bound's model the points state, '' when they state none or several."""
    models = {" ".join(attainable_model(r).split()) for r in members}
    models.discard("")
    return models.pop() if len(models) == 1 else ""


def _bound_model(members):
    """The bound model the points state (the summary's `bound_model`), '' when they do not."""
    models = {" ".join(str(r.get("bound_model") or "").split()) for r in members}
    models.discard("")
    return models.pop() if len(models) == 1 else ""


def _processors(r):
    """Cores actually available to the point: SMT and oversubscribed threads add none; a
    distributed point has its team's on every rank."""
    return min(r["threads"], r["cores"]) * ranks_of(r)


def _all_cores(r):
    """The cores of every rank of a point (its team's cores for one process)."""
    return r["cores"] * ranks_of(r)


def _draw_scaling(ax, kf_ax, members):
    """Speedup vs threads per backend, the ideal line and the bound. For cpu kinds an Amdahl
    fit and, below, Karp-Flatt e; for other kinds (a memory workload saturates at its
    bandwidth, not at a serial fraction) the speedup as a fraction of its bound below."""
    kind = members[0]["kind"]
    computing = kind == "cpu"
    top_cores = max(_all_cores(r) for r in members)
    threads_seen = sorted({workers_of(r) for r in members})
    # The attainable bound is drawn where it is not the ideal min(workers, cores).
    own_bound = any(abs(attainable_bound(r) - min(workers_of(r), top_cores)) > 1e-6
                    for r in members)
    model = _attainable_model(members) or _bound_model(members)
    highest = 1.0
    kf_values = []
    bound_label = None
    if own_bound:
        bound_label = "\n".join(textwrap.wrap(f"attainable bound: {model}" if model else
                                               "attainable bound (dash-dot, series colour)",
                                               46)[:3])
    series = _groups(members, lambda r: (r["mode"], r["backend"]))
    for (mode, backend), points in sorted(series.items(),
                                          key=lambda kv: SCALING_MODES.index(kv[0][0])):
        points = sorted(points, key=workers_of)
        colour, marker = series_colour(mode, backend), series_marker(backend)
        label = series_label(mode, backend)
        if computing and mode == "parallel":
            label += _amdahl_line(ax, points, colour)
        p = [workers_of(r) for r in points]
        s = [r["speedup"]["value"] for r in points]
        ax.errorbar(p, s, yerr=_ci_yerr(s, [r["speedup"]["ci95"] for r in points]),
                    marker=marker, color=colour, capsize=2, label=label, zorder=3)
        beyond = [(pi, si) for r, pi, si in zip(points, p, s) if r["threads"] > r["cores"]]
        if beyond:
            ax.scatter(*zip(*beyond), marker=marker, facecolor="white", edgecolor=colour,
                       zorder=4)
        highest = max(highest, max(r["speedup"]["ci95"][1] for r in points))
        if own_bound:
            ax.plot(p, [attainable_bound(r) for r in points], "-.", color=colour,
                    linewidth=1.0, alpha=0.85, label=bound_label or "_nolegend_", zorder=2)
            bound_label = None
            highest = max(highest, max(attainable_bound(r) for r in points))
        kf_values += _lower_panel(kf_ax, points, p, s, computing, marker, colour)
    _finish_scaling(ax, kf_ax, computing, own_bound, top_cores, threads_seen, highest,
                    kf_values, "distributed" in {r["mode"] for r in members})


def _amdahl_line(ax, points, colour):
    """The Amdahl fit of a cpu series, drawn dashed: the text its legend label gets ('' when
    there is nothing to fit)."""
    # Amdahl's law is about processors: fit the points with one thread per core.
    fit = [(r["threads"], r["speedup"]["value"]) for r in points if r["threads"] <= r["cores"]]
    if not any(p == 1 for p, _ in fit):
        fit.append((1, 1.0))
    if not any(p > 1 for p, _ in fit):
        return ""
    f, _ = stats.amdahl_fit([p for p, _ in fit], [s for _, s in fit])
    top_fit = max(p for p, _ in fit)
    fine = [1 + i * (top_fit - 1) / 60 for i in range(61)]
    ax.plot(fine, stats.amdahl_speedup(fine, f), "--", color=colour, linewidth=1)
    return f" (Amdahl f = {f:.3f})"


def _lower_panel(kf_ax, points, p, s, computing, marker, colour):
    """A series in the panel below: Karp-Flatt e (cpu), else speedup / attainable bound with its
    CI. The
    values drawn, for the panel's range."""
    if computing:
        kf = [(pi, stats.karp_flatt(si, _processors(r))) for r, pi, si in zip(points, p, s)]
        kf = [(pi, e) for pi, e in kf if e is not None]
        if kf:
            kf_ax.plot(*zip(*kf), marker=marker, color=colour, linewidth=0.9,
                       markersize=4)
            return [e for _, e in kf]
        return []
    frac = [(pi, r["speedup"]["value"] / b, r["speedup"]["ci95"][0] / b,
             r["speedup"]["ci95"][1] / b)
            for r, pi, b in ((r, pi, attainable_bound(r)) for r, pi in zip(points, p)) if b > 0]
    if frac:
        x, v, lo, hi = zip(*frac)
        kf_ax.errorbar(x, v, yerr=_ci_yerr(v, list(zip(lo, hi))), marker=marker,
                       color=colour, linewidth=0.9, markersize=4, capsize=2)
        return list(lo) + list(hi)
    return []


def _finish_scaling(ax, kf_ax, computing, own_bound, top_cores, threads_seen, highest,
                    kf_values, ranks=False):
    """The ideal line, the legend, the axes and the lower panel's range."""
    xs = sorted({1, top_cores, max(threads_seen)})
    ideal = (f"ideal (up to {top_cores} cores)" if own_bound
             else f"ideal = attainable bound (up to {top_cores} cores)")
    ax.plot(xs, [min(x, top_cores) for x in xs], ":", color="#222222", linewidth=1,
            label=ideal)
    # The legend sits in the top part of the panel, kept free of data.
    rows = sum(label.count("\n") + 1 for label in ax.get_legend_handles_labels()[1])
    free = min(0.55, 0.09 + 0.075 * rows)
    ax.set_ylim(0, max(top_cores, highest) * 1.05 / (1 - free))
    ax.legend(fontsize=7, loc="upper left")
    for axis in (ax, kf_ax):
        axis.set_xscale("log", base=2)
        _integer_ticks(axis.xaxis, threads_seen)
        axis.grid(color="#ececec", linewidth=0.6)
        axis.set_axisbelow(True)
    ax.tick_params(labelbottom=False)
    ax.set_ylabel("speedup over serial")
    kf_ax.axhline(0.0 if computing else 1.0, color="#444444", linewidth=0.7)
    if kf_values:
        anchor = 0.0 if computing else 1.0
        lo, hi = min(anchor, min(kf_values)), max(anchor, max(kf_values))
        span = (hi - lo) or 0.05
        kf_ax.set_ylim(lo - 0.15 * span, hi + 0.15 * span)
    kf_ax.set_ylabel("Karp-Flatt e" if computing else "speedup / attainable", fontsize=8)
    kf_ax.tick_params(labelsize=7)
    kf_ax.set_xlabel("workers P (threads x ranks)" if ranks else "threads")


def _chart_rows(sel, chart, groups_of):
    """The runs `chart` is drawn from, each run's groups (`groups_of`), the rows to draw (every
    group of any run, by kind, at most MAX_ROWS) and how many groups there were."""
    numbers = sel.drawn(chart)
    per_run = [groups_of(sel.kept[n]) for n in numbers]
    every = sorted(OrderedDict.fromkeys(k for groups in per_run for k in groups),
                   key=lambda k: kind_rank(k[2]))
    if not every:
        raise CvpError(f"{_names(sel.paths)}: nothing to draw for the {chart} chart "
                       f"(needs {_NEEDS[chart]})")
    return numbers, per_run, every[:MAX_ROWS], len(every)


def _build_scaling(sel):
    numbers, per_run, rows, groups = _chart_rows(sel, "scaling", _scaling_groups)
    grid = _grid(sel, numbers, per_run, rows, 6.2)
    # Karp-Flatt e gets a panel of its own under each scaling panel: an inset would hide data.
    fig = _figure(figsize=(6.2 * grid.columns, (4.6 if grid.aligned else 5.1) * len(rows) + 0.9),
                  layout="constrained")
    outer = fig.add_gridspec(len(rows), grid.columns)
    titles = _column_titles(sel, numbers)
    for i, (key, placed) in enumerate(zip(rows, grid.rows)):
        for j, c in enumerate(placed):
            inner = outer[i, j].subgridspec(2, 1, height_ratios=[3.0, 1.1])
            ax = fig.add_subplot(inner[0])
            kf_ax = fig.add_subplot(inner[1], sharex=ax)
            _draw_scaling(ax, kf_ax, per_run[c][key])
            heading = _txt(f"{key[0]}  {key[1]} ({key[2]}-bound)")
            ax.set_title(grid.title(titles, i, c, heading), fontsize=8)
    fig.suptitle(_wrapped(_noted("Parallel scaling: speedup vs threads (distributed: threads x "
                                 "ranks) (95% CI), ideal line, "
                                 "the attainable bound (dash-dot) where it is not the ideal, "
                                 "Amdahl fit "
                                 "(dashed, cpu kinds), hollow: more threads than cores; below: "
                                 "Karp-Flatt serial fraction e (cpu kinds), speedup / "
                                 "attainable bound "
                                 "(others)",
                                 _selection_note(sel, numbers, len(rows), groups, "scaling")),
                          fig), fontsize=10)
    return _capped(fig)


# --- weak against strong scaling ------------------------------------------------------------------

def _weak_groups(run):
    """{(workload, group, kind): parallel and distributed points} of the groups that have
    weak-scaling points (task-split kinds), strong and weak together, in the order cpu, memory,
    then others. Not io: a request point's speedup over serial is mostly concurrency's (K in
    flight on one core), so S = P is no ideal for it; its weak points are series of the io chart
    and the report gives their scaled speedup over one core (io.weak). Keyed by the summary's `group` (a weak point's own parameters are its grown
    problem's), else the parameters of its strong points."""
    split = [r for r in live_results(run)
             if r["kind"] != "io" and r["mode"] in SCALING_MODES and r["speedup"]["value"] > 0]
    groups = _groups(split, lambda r: (r["workload"], key_label(*group_key(r)[1:]), r["kind"]))
    keys = sorted((k for k, v in groups.items() if any(is_weak(r) for r in v)),
                  key=lambda k: kind_rank(k[2]))
    return OrderedDict((k, groups[k]) for k in keys)


def _gustafson_line(ax, points, colour):
    """The Gustafson fit of weak points, drawn dash-dot: its legend text ('' when nothing to
    fit). As the Amdahl fit, over the points with one worker per core: more workers than cores
    (oversubscribed) cannot scale with P and would drag the fraction up."""
    fit = [(weak_of(r), r["speedup"]["value"]) for r in points if r["threads"] <= r["cores"]]
    if not any(p > 1 for p, _ in fit):
        return ""
    s = stats.gustafson_fit([p for p, _ in fit], [v for _, v in fit])
    top = max(p for p, _ in fit)
    fine = [1 + i * (top - 1) / 60 for i in range(61)]
    ax.plot(fine, stats.gustafson_speedup(fine, s), "-.", color=colour, linewidth=1)
    return f" (Gustafson s = {s:.3f})"


def _strong_amdahl(ax, points, colour):
    """The Amdahl fit of strong points, P = workers, over the points with one worker per core
    (parallel and distributed together: P counts the cores either way)."""
    fit = [(workers_of(r), r["speedup"]["value"]) for r in points if r["threads"] <= r["cores"]]
    if not any(p == 1 for p, _ in fit):
        fit.append((1, 1.0))
    if not any(p > 1 for p, _ in fit):
        return ""
    f, _ = stats.amdahl_fit([p for p, _ in fit], [v for _, v in fit])
    top = max(p for p, _ in fit)
    fine = [1 + i * (top - 1) / 60 for i in range(61)]
    ax.plot(fine, stats.amdahl_speedup(fine, f), "--", color=colour, linewidth=1)
    return f" (Amdahl f = {f:.3f})"


def _draw_weak(ax, members):
    """Strong and weak speedup vs workers P: strong points per (mode, backend) with the
    Amdahl fit of each backend's strong points; weak points (the scaled speedup, P = the
    factor the problem grew by) with the Gustafson fit of each backend's; the ideal S = P."""
    highest, seen = 1.0, {1}
    for backend, of_backend in _groups(members, lambda r: r["backend"]).items():
        strong = [r for r in of_backend if not is_weak(r)]
        weak = [r for r in of_backend if is_weak(r)]
        for points, is_weak_set in ((strong, False), (weak, True)):
            if not points:
                continue
            fit_colour = (weak_colour if is_weak_set else series_colour)("parallel", backend)
            fit_text = (_gustafson_line if is_weak_set else _strong_amdahl)(ax, points,
                                                                          fit_colour)
            for mode in SCALING_MODES:
                series = sorted((r for r in points if r["mode"] == mode),
                                key=lambda r: weak_of(r) if is_weak_set else workers_of(r))
                if not series:
                    continue
                colour = (weak_colour if is_weak_set else series_colour)(mode, backend)
                p = [weak_of(r) if is_weak_set else workers_of(r) for r in series]
                v = [r["speedup"]["value"] for r in series]
                label = _txt(f"{'weak' if is_weak_set else 'strong'} {mode} · {backend}")
                if mode == "parallel" or not any(r["mode"] == "parallel" for r in points):
                    label += fit_text   # the backend's fit, named once
                ax.errorbar(p, v, yerr=_ci_yerr(v, [r["speedup"]["ci95"] for r in series]),
                            marker=series_marker(backend), color=colour, capsize=2,
                            label=label, zorder=3,
                            markerfacecolor="white" if is_weak_set else colour)
                highest = max(highest, max(r["speedup"]["ci95"][1] for r in series))
                seen |= set(p)
    top = max(seen)
    ax.plot([1, top], [1, top], ":", color="#222222", linewidth=1, label="ideal S = P")
    rows = sum(label.count("\n") + 1 for label in ax.get_legend_handles_labels()[1])
    free = min(0.55, 0.09 + 0.075 * rows)
    ax.set_ylim(0, max(top, highest) * 1.05 / (1 - free))
    ax.legend(fontsize=7, loc="upper left")
    ax.set_xscale("log", base=2)
    _integer_ticks(ax.xaxis, sorted(seen))
    ax.grid(color="#ececec", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("workers P (threads x ranks; weak: the problem grown P times)")
    ax.set_ylabel("speedup over serial (weak: scaled)")


def _build_weak(sel):
    numbers, per_run, rows, groups = _chart_rows(sel, "weak", _weak_groups)
    grid = _grid(sel, numbers, per_run, rows, 6.2)
    fig = _figure(figsize=(6.2 * grid.columns, (4.4 if grid.aligned else 4.9) * len(rows) + 0.9),
                  layout="constrained")
    axes = fig.subplots(len(rows), grid.columns, squeeze=False)
    titles = _column_titles(sel, numbers)
    for i, (key, placed) in enumerate(zip(rows, grid.rows)):
        for j, c in enumerate(placed):
            _draw_weak(axes[i][j], per_run[c][key])
            heading = _txt(f"{key[1]} ({key[2]}-bound)")
            axes[i][j].set_title(grid.title(titles, i, c, heading), fontsize=8)
    _hide_unused(axes, grid)
    fig.suptitle(_wrapped(_noted("Weak and strong scaling: speedup vs workers P (95% CI); "
                                 "strong (filled): the group's problem, Amdahl fit dashed; weak "
                                 "(hollow): the problem grown P times, its scaled speedup, "
                                 "Gustafson fit S = P - s (P - 1) dash-dot; dotted: ideal S = P",
                                 _selection_note(sel, numbers, len(rows), groups, "weak")),
                          fig), fontsize=10)
    return _capped(fig)


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
        if r.get("name") == wanted:
            return r
    for r in serial:
        if f"backend:{r['backend']}/" in wanted or wanted.endswith(f"backend:{r['backend']}"):
            return r
    return serial[0] if serial else None


def _throughput_err(points):
    """yerr for throughputs from their wall-time CIs (zero where a CI is missing)."""
    values = [r["throughput"]["value"] for r in points]
    cis = [throughput_ci(r) or (v, v) for r, v in zip(points, values)]
    return values, _ci_yerr(values, cis)


def _draw_io(ax, members):
    unit = members[0]["throughput"]["unit"]
    flights = {r["in_flight"] for r in members}
    for r in members:
        if r["mode"] == "serial":
            values, yerr = _throughput_err([r])
            ax.errorbar([r["in_flight"]], values, yerr=yerr, marker="s", linestyle="none",
                        color=series_colour("serial", r["backend"]), capsize=3,
                        label=series_label("serial", r["backend"]), zorder=3)
    # Weak-scaling points (K x P in flight, N x P requests on P cores) are series of their own,
    # hollow, at the K they grew to.
    series = _groups([r for r in members if r["mode"] != "serial"],
                     lambda r: (r["mode"], r["backend"], is_weak(r)))
    for (mode, backend, weak), points in series.items():
        points = sorted(points, key=lambda r: r["in_flight"])
        colour = (IO_WEAK_PALETTE.get((mode, backend)) or weak_colour(mode, backend) if weak
                  else series_colour(mode, backend))
        k = [r["in_flight"] for r in points]
        values, yerr = _throughput_err(points)
        ax.errorbar(k, values, yerr=yerr, marker=series_marker(backend), color=colour, capsize=3,
                    label=("weak " if weak else "") + series_label(mode, backend), zorder=3,
                    markerfacecolor="white" if weak else colour)
        bases = [_serial_for(members, r) for r in points]
        if all(b is not None for b in bases) and all(r["speedup"]["value"] > 0 for r in points):
            serial = [b["throughput"]["value"] for b in bases]
            ax.plot(k, [attainable_bound(r) * t for r, t in zip(points, serial)], "--",
                    color=colour, linewidth=0.9, alpha=0.8)
            if any(bounds_differ(r) for r in points):
                ax.plot(k, [ideal_bound(r) * t for r, t in zip(points, serial)], "-",
                        color=colour, linewidth=0.5, alpha=0.7)
    ax.set_xscale("log", base=2)
    _integer_ticks(ax.xaxis, flights)
    ax.set_yscale("log")
    ax.grid(color="#ececec", linewidth=0.6, which="both")
    ax.set_axisbelow(True)
    work = members[0].get("work")
    unit = work.get("unit") if isinstance(work, dict) else None
    ax.set_xlabel(_txt(f"{unit or 'requests'} in flight (K)"))
    ax.set_ylabel(_txt(f"throughput ({unit}, log)"))


# --- crossover ----------------------------------------------------------------------------------

def _crossover_groups(run):
    io = [r for r in live_results(run) if r["kind"] == "io" and "c_us" in r["params"]
          and "w_us" in r["params"] and _has_speedup(r) and not is_weak(r)]
    groups = _groups(io, lambda r: (r["workload"], params_label(
        r["params"], skip=("c_us",) + _BOOKKEEPING)))
    return OrderedDict((k, v) for k, v in groups.items()
                       if len({r["params"]["c_us"] for r in v if r["mode"] != "serial"}) >= 2)


def _cpu_share(r):
    c, w = float(r["params"]["c_us"]), float(r["params"]["w_us"])
    return c / (c + w)


def _draw_crossover(ax, members):
    series = _groups(members, lambda r: (r["mode"], r["backend"]))
    for key, points in series.items():
        points = sorted(points, key=_cpu_share)
        x = [_cpu_share(r) for r in points]
        y = [r["speedup"]["value"] for r in points]
        colour = series_colour(*key)
        ax.errorbar(x, y, yerr=_ci_yerr(y, [r["speedup"]["ci95"] for r in points]),
                    marker=series_marker(key[1]), color=colour, capsize=2,
                    label=series_label(*key), zorder=3)
        ax.plot(x, [attainable_bound(r) for r in points], "--", color=colour, linewidth=0.9,
                alpha=0.8)
        if any(bounds_differ(r) for r in points):
            ax.plot(x, [ideal_bound(r) for r in points], "-", color=colour, linewidth=0.5,
                    alpha=0.7)
    ax.axhline(1.0, color="#444444", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    shares = [_cpu_share(r) for r in members]
    nice = [t for t in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
            if min(shares) / 1.5 <= t <= max(shares) * 1.5]
    ax.xaxis.set_major_locator(FixedLocator(nice))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{100 * t:g}%" for t in nice]))
    ax.xaxis.set_minor_locator(NullLocator())
    top = max(max(attainable_bound(r), ideal_bound(r), r["speedup"]["ci95"][1])
              for r in members)
    ax.set_ylim(0, top * 1.08)
    ax.grid(color="#ececec", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("CPU share of a request, c / (c + w) (log)")
    ax.set_ylabel("speedup over serial")


# --- runs: every run at once ------------------------------------------------------------------

def _runs_rows(sel, limit):
    """([(kind, label)], how many there were): the workloads of the runs' headline points, in the
    headline's order; beyond `limit`, those measured in the most runs."""
    seen = OrderedDict()
    for d in sel.digests:
        for g in d.headline:
            if g["quoted"]:
                key = (g["kind"], g["label"])
                if key in seen:
                    seen[key][1] += 1
                else:
                    seen[key] = [g["sort"], 1]
    rows = sorted(seen, key=lambda k: seen[k][0])
    if len(rows) > limit:
        most = set(sorted(rows, key=lambda k: -seen[k][1])[:limit])
        rows = [k for k in rows if k in most]
    return rows, len(seen)


def runs_table(sel, limit):
    """The headline numbers of every run for a table: (rows, [{(kind, label): group}] per run),
    with at most `limit` workloads (those measured in the most runs)."""
    rows, total = _runs_rows(sel, limit)
    wanted = set(rows)
    per_run = [{(g["kind"], g["label"]): g for g in d.headline
                if (g["kind"], g["label"]) in wanted} for d in sel.digests]
    return rows, total, per_run


def _median_text(values):
    return _fmt_x(statistics.median(values)) if values else "n/a"


def _draw_runs_row(ax, box_ax, sel, row):
    """One workload: a point per run and mode (the verdict backend's), 95% CI, the bound as a
    short dash; beside it, the distribution across the runs as a box per series."""
    series = OrderedDict()
    for d in sel.digests:
        group = next((g for g in d.headline if (g["kind"], g["label"]) == row), None)
        if group is None:
            continue
        for mode, p in group["quoted"].items():
            s = series.setdefault((mode, p["backend"]), {"x": [], "v": [], "lo": [], "hi": [],
                                                         "bound": []})
            s["x"].append(d.number)
            s["v"].append(p["value"])
            s["lo"].append(max(0.0, p["value"] - p["ci95"][0]))
            s["hi"].append(max(0.0, p["ci95"][1] - p["value"]))
            s["bound"].append(p["bound"])
    total = sel.total
    size = 5.0 if total <= 40 else 3.0 if total <= 400 else 1.6
    width = 1.0 if total <= 400 else 0.5
    top = 1.0
    for (mode, backend), s in series.items():
        colour = series_colour(mode, backend)
        bars = ax.errorbar(s["x"], s["v"], yerr=[s["lo"], s["hi"]],
                           marker=series_marker(backend), markersize=size, linestyle="none",
                           color=colour, elinewidth=width, capsize=2 if total <= 40 else 0,
                           label=series_label(mode, backend), zorder=3)
        if total > 100:  # dense whiskers would hide the points: lighter, still there
            for collection in bars.lines[2]:
                collection.set_alpha(0.3)
        ax.plot(s["x"], s["bound"], linestyle="none", marker="_", markersize=size + 5,
                color=colour, alpha=0.8, label="attainable bound (short dash, series colour)",
                zorder=2)
        top = max(top, max(v + h for v, h in zip(s["v"], s["hi"])), max(s["bound"]))
    ax.axhline(1.0, color="#444444", linewidth=0.8, linestyle=":", zorder=1)
    ax.set_xlim(0.5, total + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True, min_n_ticks=1))
    ax.set_ylim(0, top * 1.1)
    ax.set_ylabel("speedup over serial")
    ax.grid(color="#ececec", linewidth=0.6)
    ax.set_axisbelow(True)
    keys = list(series)
    boxes = box_ax.boxplot([series[k]["v"] for k in keys], positions=range(1, len(keys) + 1),
                           widths=0.6, patch_artist=True, showfliers=True,
                           flierprops={"markersize": 2}, medianprops={"color": "#000000"})
    for patch, key in zip(boxes["boxes"], keys):
        patch.set_facecolor(series_colour(*key))
        patch.set_alpha(0.75)
    box_ax.set_xticks(range(1, len(keys) + 1))
    box_ax.set_xticklabels([_txt(f"{'conc.' if m == 'concurrent' else 'par.'}\n{b[:10]}")
                            for m, b in keys], fontsize=6)
    box_ax.set_xlim(0.4, len(keys) + 0.6)
    box_ax.tick_params(labelleft=False)
    box_ax.grid(axis="y", color="#ececec", linewidth=0.6)
    box_ax.set_axisbelow(True)
    counted = {m: [v for (mode, _), s in series.items() if mode == m for v in s["v"]]
               for m in ("concurrent", "parallel")}
    runs_with = len({x for s in series.values() for x in s["x"]})
    return (f"{row[1]} ({row[0]}-bound), in {runs_with:,} of {total:,} runs: median "
            f"concurrency {_median_text(counted['concurrent'])}, parallelism "
            f"{_median_text(counted['parallel'])}")


def _build_runs(sel):
    rows, every = _runs_rows(sel, MAX_ROWS)
    if sel.total < 2 or not rows:
        raise CvpError(f"{_names(sel.paths)}: nothing to draw for the runs chart "
                       f"(needs {_NEEDS['runs']})")
    width = min(14.0, max(10.0, 7.0 + 0.01 * sel.total))
    fig = _figure(figsize=(width, 2.9 * len(rows) + 1.6))
    axes = fig.subplots(len(rows), 2, squeeze=False, sharey="row",
                        gridspec_kw={"width_ratios": [6, 1]})
    for i, row in enumerate(rows):
        ax, box_ax = axes[i]
        heading = _draw_runs_row(ax, box_ax, sel, row)
        ax.set_title(_txt(heading), fontsize=8, loc="left")
        box_ax.set_title("across the runs", fontsize=8)
    first, last = sel.digests[0], sel.digests[-1]
    axes[-1][0].set_xlabel(_txt(f"run, in input order (1: {first.name[:40]}; {sel.total:,}: "
                                f"{last.name[:40]})"), fontsize=8)
    note = (f" The first {len(rows)} of {every} workloads (those measured in the most runs)."
            if len(rows) < every else "")
    title = (f"Headline speedups of all {sel.total:,} runs: concurrency and parallelism at the "
             f"points the verdict lines quote, for the backend they quote, 95% CI; "
             f"right: their spread across the runs (median, quartiles).{note}")
    extra = [(Line2D([], [], color="#444444", linestyle=":"), "x1 (serial)")]
    _finish(fig, title, _figure_legend(fig, [row[0] for row in axes], extra=extra))
    return _capped(fig)


# --- assembly -----------------------------------------------------------------------------------

_NEEDS = {
    "speedup": "results other than serial",
    "scaling": "parallel cpu or memory results with more than one thread",
    "weak": "weak-scaling cpu or memory results (cvpbench --scaling weak or both)",
    "io": "io results at two or more requests-in-flight values",
    "crossover": "io results at two or more c_us values with fixed w_us and k",
    "runs": "two runs or more with results other than serial",
    "roofline": "a summary with the machine's limits (cvpbench without --limits off) and "
                "results whose workload declares its FLOP and bytes",
}

def _limits(run):
    """The machine's limits of a summary, when it has them whole: {one_core, all_cores, cores,
    bw_one, bw_all}; None otherwise (older runs, --limits off)."""
    limits = (run.doc.get("machine") or {}).get("limits") if isinstance(run.doc, dict) else None
    if not isinstance(limits, dict):
        return None
    flops, bw = limits.get("flops_per_s"), limits.get("bandwidth_bytes_per_s")
    if not isinstance(flops, dict) or not isinstance(bw, dict):
        return None
    values = {"one_core": flops.get("one_core"), "all_cores": flops.get("all_cores"),
              "bw_one": bw.get("one_core"), "bw_all": bw.get("all_cores")}
    if not all(isinstance(v, (int, float)) and v > 0 for v in values.values()):
        return None
    values["cores"] = flops.get("cores") if isinstance(flops.get("cores"), int) else 0
    return values


def _roofline_points(run):
    """{(workload, mode, backend): [(intensity, FLOP/s), ...]} of a run that has its machine's
    limits, for the rows whose workload declares FLOP and bytes."""
    if _limits(run) is None:
        return {}
    out = OrderedDict()
    for r in live_results(run):
        roof = r.get("roofline")
        if not isinstance(roof, dict):
            continue
        x, y = roof.get("intensity"), roof.get("flop_per_s")
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and x > 0 and y > 0:
            out.setdefault((r["workload"], r["mode"], r["backend"]), []).append((float(x), float(y)))
    return out


def _draw_roofline(ax, limits, points):
    xs = [x for pts in points.values() for x, _ in pts]
    lo, hi = min(xs + [0.01]) / 4, max(xs + [100.0]) * 4
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    for peak, bw, style, label in ((limits["all_cores"], limits["bw_all"], "-",
                                    f"all {limits['cores'] or ''} cores".replace("  ", " ")),
                                   (limits["one_core"], limits["bw_one"], "--", "one core")):
        ax.plot(grid, [min(peak, bw * x) for x in grid], color="#333333", linestyle=style,
                linewidth=1.2, label=f"roof, {label}: {peak / 1e9:.0f} GFLOP/s, {bw / 1e9:.0f} GB/s")
    highest = OrderedDict()
    for (workload, mode, backend), pts in points.items():
        ax.scatter([x for x, _ in pts], [y for _, y in pts], color=series_colour(mode, backend),
                   marker=series_marker(backend), s=28, zorder=3, label=series_label(mode, backend))
        top = max(pts, key=lambda p: p[1])
        if workload not in highest or top[1] > highest[workload][1]:
            highest[workload] = top
    for workload, (x, y) in highest.items():
        ax.annotate(_txt(workload), (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (FLOP per byte, the least traffic)", fontsize=8)
    ax.set_ylabel("FLOP/s", fontsize=8)


def _build_roofline(sel):
    numbers = sel.drawn("roofline")
    runs = [sel.kept[n] for n in numbers]
    per_run = [_roofline_points(run) for run in runs]
    if not any(per_run):
        raise CvpError(f"{_names(sel.paths)}: nothing to draw for the roofline chart "
                       f"(needs {_NEEDS['roofline']})")
    fig = _figure(figsize=(6.4 * len(runs), 5.6))
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    titles = _column_titles(sel, numbers)
    for ax, run, points, title in zip(axes, runs, per_run, titles):
        if points:
            _draw_roofline(ax, _limits(run), points)
        else:
            _empty(ax, "no limits or no FLOP and bytes in this run")
        ax.set_title(title, fontsize=8)
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    legend = fig.legend(list(handles.values()), list(handles.keys()), loc="lower center",
                        ncol=3, fontsize=8, frameon=False) if handles else None
    _finish(fig, _noted("Roofline: each point's FLOP/s at its arithmetic intensity, under the "
                        "machine's measured peak and bandwidth",
                        _selection_note(sel, numbers, 1, 1, "roofline")), legend)
    return _capped(fig)


_FINDERS = {"scaling": _scaling_groups, "weak": _weak_groups, "io": _io_groups, "crossover": _crossover_groups, "roofline": _roofline_points}


def _build_lines(name, sel):
    drawer, title = {
        "io": (_draw_io, "I/O-bound: throughput vs requests in flight, 95% CI; "
                         "dashed: the attainable bound (x serial throughput), thin: the "
                         "ideal where it differs"),
        "crossover": (_draw_crossover, "Crossover: speedup vs CPU share of a request, 95% CI; "
                                       "dashed: the attainable bounds, thin: the ideal "
                                       "where it differs"),
    }[name]
    numbers = sel.drawn(name)
    runs = [sel.kept[n] for n in numbers]
    per_run = [_FINDERS[name](run) for run in runs]
    every = list(OrderedDict.fromkeys(k for groups in per_run for k in groups))
    if not every:
        raise CvpError(f"{_names(sel.paths)}: nothing to draw for the {name} chart "
                       f"(needs {_NEEDS[name]})")
    rows = every[:MAX_ROWS]
    grid = _grid(sel, numbers, per_run, rows, 6.2)
    fig = _figure(figsize=(6.2 * grid.columns, (3.9 if grid.aligned else 4.5) * len(rows) + 1.3))
    axes = fig.subplots(len(rows), grid.columns, squeeze=False)
    titles = _column_titles(sel, numbers)
    for i, (key, placed) in enumerate(zip(rows, grid.rows)):
        for j, c in enumerate(placed):
            drawer(axes[i][j], per_run[c][key])
            heading = _txt(f"{key[0]}  {key[1]}")
            axes[i][j].set_title(grid.title(titles, i, c, heading), fontsize=8)
    _hide_unused(axes, grid)
    extra = [(Line2D([], [], color="#555555", linestyle="--"),
              "attainable bound (dashed, series colour)")]
    _finish(fig, _noted(title, _selection_note(sel, numbers, len(rows), len(every), name)),
            _figure_legend(fig, [ax for ax in fig.axes if ax.get_visible()], extra=extra))
    return _capped(fig)


def build(name, runs):
    """A Figure for chart `name`: a detailed chart has one column per run drawn (every run, or
    the first `detail` with data for it), the runs chart a point per run. `runs`: a list of runs
    or a Selection. CvpError if nothing to draw."""
    sel = _selection(runs)
    if name == "speedup":
        return _build_speedup(sel)
    if name == "scaling":
        return _build_scaling(sel)
    if name == "weak":
        return _build_weak(sel)
    if name in ("io", "crossover"):
        return _build_lines(name, sel)
    if name == "roofline":
        return _build_roofline(sel)
    if name == "runs":
        return _build_runs(sel)
    raise CvpError(f"unknown chart {name!r} (choose from {', '.join(CHARTS)})")


def available(runs):
    """The charts that have something to draw for these runs (the runs chart: two runs or more
    with a headline point)."""
    sel = _selection(runs)
    out = [name for name in DETAIL_CHARTS + EXTRA_CHARTS
           if any(name in d.charts for d in sel.digests)]
    if sel.total >= 2 and _runs_rows(sel, MAX_ROWS)[0]:
        out.append("runs")
    return out


def _capped(fig):
    """No side longer than MAX_SIDE_IN, whatever the layout asked for (a last guard: the charts
    are sized to stay inside it; a squeezed figure is still a figure, a huge one is a crash)."""
    width, height = fig.get_size_inches()
    if width > MAX_SIDE_IN or height > MAX_SIDE_IN:
        fig.set_size_inches(min(width, MAX_SIDE_IN), min(height, MAX_SIDE_IN))
    return fig


def raster_dpi(fig, dpi=DPI):
    """`dpi`, lowered where the figure would otherwise be more than MAX_SIDE_PX on a side or
    MAX_PIXELS in all."""
    width, height = fig.get_size_inches()
    scale = min(1.0, MAX_SIDE_PX / (width * dpi), MAX_SIDE_PX / (height * dpi),
                math.sqrt(MAX_PIXELS / (width * height * dpi * dpi)))
    return dpi * scale * 0.999 if scale < 1.0 else dpi


def render(fig, fmt, dpi=DPI):
    """The figure's bytes in `fmt` (png or svg), without a timestamp so output is reproducible,
    never larger than MAX_SIDE_PX x MAX_SIDE_PX or MAX_PIXELS."""
    _capped(fig)
    buffer = _bytes_io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context({"svg.hashsalt": "cvpbench"}):
        fig.savefig(buffer, format=fmt, dpi=raster_dpi(fig, dpi), metadata=metadata)
    return buffer.getvalue()


def render_charts(runs, names=None, formats=FORMATS):
    """{file name: bytes} for the requested charts (default: every chart with something to draw).
    Charts asked for by name must have something to draw. `runs`: a list or a Selection."""
    sel = _selection(runs)
    if names:
        chosen = list(names)
    else:
        chosen = available(sel)
        if not chosen:
            raise CvpError(f"{_names(sel.paths)}: nothing to draw (no chart has data: needs "
                           f"results other than serial)")
    files = OrderedDict()
    for name in chosen:
        fig = build(name, sel)
        for fmt in formats:
            files[f"{name}.{fmt}"] = render(fig, fmt)
        del fig
    return files
