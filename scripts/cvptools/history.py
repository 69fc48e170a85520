"""Trends and change points over the results database.

A series is one benchmark on one machine: the value of one metric in each run, in the runs'
date order. Change points are found by changepoint.detect (E-Divisive means with a permutation
test); each is reported with its size (after/before, 95% CI), the run and commit where the new
level began and the last run before it.

A change point is *new* when the latest import that added runs (or the imports from --since
on) made it appear: it is found in the whole series but not in the series without those runs
(matched by direction, within min_size runs of the same place). That is what `cvp history
--regressions` fails on, so that CI fails on the run that revealed a regression (and on a rerun
of that job, which adds nothing), not on every later run. A change that begins at the very last
run cannot be seen yet: a segment needs min_size runs; the change is reported (and fails CI)
min_size - 1 runs later.
"""

from dataclasses import dataclass, field

from . import CvpError
from . import changepoint
from .text import md_code, visible

METRICS = {
    # name: (point key, higher is better, what the value is)
    "time": ("time", False, "time per unit of work"),
    "throughput": ("throughput", True, "throughput"),
    "speedup": ("speedup", True, "speedup over serial"),
}


@dataclass
class Change:
    point: changepoint.ChangePoint
    first: dict          # the first run of the new level
    last_before: dict    # the last run of the old level
    regression: bool
    new: bool = False

    @property
    def percent(self):
        return (self.point.ratio - 1.0) * 100.0


@dataclass
class Series:
    benchmark: dict
    machine: dict
    metric: str
    points: list                      # runs with a value of the metric, in date order
    changes: list = field(default_factory=list)
    runs: int = 0                     # len(points), kept when the points are dropped

    @property
    def values(self):
        key = METRICS[self.metric][0]
        return [p[key] for p in self.points]


@dataclass
class Options:
    metric: str = "time"
    p_value: float = 0.01
    min_size: int = 3
    min_change: float = 0.0
    since_import: int = None          # runs of this import and later are "recent"


def _detect(values, opt):
    return changepoint.detect(values, p_value=opt.p_value, min_size=opt.min_size,
                              min_relative_change=opt.min_change)


def analyse_series(series, opt):
    """Find the series' change points and mark the regressions and the new ones."""
    values = series.values
    found = _detect(values, opt) if len(values) >= 2 * opt.min_size else []
    higher_is_better = METRICS[opt.metric][1]
    worse = changepoint.regression_direction(higher_is_better)
    recent = [i for i, p in enumerate(series.points)
              if opt.since_import is not None and (p["import_id"] or 0) >= opt.since_import]
    before = []
    if recent:
        fresh = set(recent)
        keep = [i for i in range(len(values)) if i not in fresh]
        old = _detect([values[i] for i in keep], opt) if len(keep) >= 2 * opt.min_size else []
        before = [(keep[c.index], c.direction) for c in old]
    for c in found:
        change = Change(point=c, first=series.points[c.index],
                        last_before=series.points[c.index - 1],
                        regression=c.direction == worse)
        if recent:
            change.new = not any(d == c.direction and abs(i - c.index) <= opt.min_size
                                 for i, d in before)
        series.changes.append(change)
    return series


def load_series(db, pattern=None, machine_id=None, metric="time"):
    """Every (benchmark, machine) series matching, as Series without their analysis."""
    if metric not in METRICS:
        raise CvpError(f"--metric {metric}: not one of {', '.join(METRICS)}")
    machines = {m["id"]: m for m in db.machines()}
    benchmarks = db.benchmarks(pattern)
    if not benchmarks:
        what = f"matching '{pattern}'" if pattern is not None else "at all"
        raise CvpError(f"{db.where}: no benchmark {what} (cvp db show RUN lists a run's)")
    for b in benchmarks:
        yield from benchmark_series(db, b, machines, metric, machine_id)


def benchmark_series(db, benchmark, machines, metric, machine_id=None):
    """The series of one benchmark, a Series per machine (in machine order) that has runs with
    a usable value of the metric; machines: {id: machine} as db.machines() gives them."""
    key = METRICS[metric][0]
    for mid, points in sorted(db.series(benchmark["id"], machine_id).items()):
        points = [p for p in points if _positive(p[key])]
        if points and mid in machines:
            yield Series(benchmark=benchmark, machine=machines[mid], metric=metric,
                         points=points)


def _positive(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 < value < float("inf"))


def analyse(db, pattern=None, machine_id=None, opt=None, keep_points=True):
    """The analysed series, one at a time (a generator). Without keep_points each series
    keeps only its change points (and their runs): memory stays that of one series, however
    many runs the database holds."""
    opt = opt or Options()
    for s in load_series(db, pattern, machine_id, opt.metric):
        analyse_series(s, opt)
        s.runs = len(s.points)
        if not keep_points:
            s.points = []
        yield s


# --- text --------------------------------------------------------------------------------------

def format_number(value):
    """Four significant digits; thousands grouped; exponents only far from 1."""
    if value is None:
        return "-"
    if value == 0 or 1e-3 <= abs(value) < 1e3:
        return f"{value:.4g}"
    if 1e3 <= abs(value) < 1e12:
        return f"{value:,.0f}"
    return f"{value:.3e}"



def _short(commit):
    """The first 12 characters of a commit (a string from outside: shown through visible or
    md_code like every other)."""
    return (commit or "?")[:12]


def change_line(s, c):
    p = c.point
    kind = "regression" if c.regression else "improvement"
    return visible(
        f"{'NEW ' if c.new else ''}{kind}: {s.benchmark['name']} on {s.machine['label']}: "
        f"{s.metric} x{p.ratio:.3f} ({c.percent:+.1f}%, 95% CI x{p.ci[0]:.3f} to "
        f"x{p.ci[1]:.3f}, p={p.p_value:.3g}) from run {c.first['digest'][:12]} (commit "
        f"{_short(c.first['commit'])}, {c.first['date']}); last run before: commit "
        f"{_short(c.last_before['commit'])}, {c.last_before['date']}")


def series_text(s, last=30):
    unit = s.benchmark.get("work_unit") or "execution"
    what = {"time": f"seconds per {unit}", "throughput": "throughput",
            "speedup": "speedup"}[s.metric]
    if (s.benchmark.get("weak") or 1) > 1:
        what += f" (weak scaling: the problem grown x{format_number(s.benchmark['weak'])})"
    if (s.benchmark.get("ranks") or 1) > 1:
        what += f", {s.benchmark['ranks']} MPI ranks"
    if s.machine.get("hosts"):
        what += f", a cluster of hosts {s.machine['hosts']}"
    lines = [visible(f"{s.benchmark['name']} on {s.machine['label']}: {len(s.points)} runs, "
                     f"{what}")]
    starts = {c.point.index: c for c in s.changes}
    shown = range(max(0, len(s.points) - last), len(s.points))
    if len(s.points) > last:
        lines.append(f"  ({len(s.points) - last} earlier runs not shown; --last N shows more)")
    lines.append(f"  {'date':20}  {'commit':12}  {'run':12}  {'value':>10}  "
                 f"{'95% CI':>21}  change")
    key = METRICS[s.metric][0]
    lo_key, hi_key = {"time": ("time_lo", "time_hi"), "speedup": ("speedup_lo", "speedup_hi"),
                      "throughput": (None, None)}[s.metric]
    for i in shown:
        p = s.points[i]
        ci = (f"{format_number(p[lo_key])} to {format_number(p[hi_key])}"
              if lo_key and p[lo_key] is not None else "")
        mark = ""
        if i in starts:
            c = starts[i]
            mark = (f"<- {'NEW ' if c.new else ''}{'regression' if c.regression else 'improvement'}"
                    f" {c.percent:+.1f}%")
        lines.append(visible(f"  {p['date']:20}  {_short(p['commit']):12}  "
                             f"{p['digest'][:12]:12}  {format_number(p[key]):>10}  {ci:>21}  "
                             f"{mark}".rstrip()))
    for c in s.changes:
        lines.append("  " + change_line(s, c))
    if not s.changes:
        lines.append("  no change point" + (" (too few runs)" if len(s.points) < 6 else ""))
    return "\n".join(lines)


def regressions_text(all_series, opt):
    changes = [(s, c) for s in all_series for c in s.changes if c.regression]
    new = [(s, c) for s, c in changes if c.new]
    lines = [f"{len(all_series)} series ({opt.metric}), "
             f"{sum(len(s.changes) for s in all_series)} change points, "
             f"{len(changes)} regressions, {len(new)} new"]
    for s, c in sorted(changes, key=lambda sc: (not sc[1].new, sc[1].first["date"])):
        lines.append(change_line(s, c))
    return "\n".join(lines)


def markdown(all_series, opt, title="cvpbench change points"):
    """A Markdown table of every change point, new ones first, for a pull-request comment.
    Every string from outside (benchmark, machine, commit, date) is a code span made by
    text.md_code: no link, image, HTML, table cell or line break can come from it."""
    rows = [(s, c) for s in all_series for c in s.changes]
    rows.sort(key=lambda sc: (not sc[1].new, not sc[1].regression, sc[1].first["date"]))
    new_reg = sum(1 for _, c in rows if c.new and c.regression)
    out = [f"### {title}", ""]
    out.append(f"{len(all_series)} series of {opt.metric}; {len(rows)} change points; "
               f"**{new_reg} new regression(s)**.")
    out.append("")
    if rows:
        out.append("| | benchmark | machine | change | 95% CI | began at commit | run date |")
        out.append("|---|---|---|---|---|---|---|")
        for s, c in rows:
            tag = ("NEW " if c.new else "") + ("regression" if c.regression else "improvement")
            out.append(f"| {tag} | {md_code(s.benchmark['name'], True)} | "
                       f"{md_code(s.machine['label'], True)} | "
                       f"{c.percent:+.1f}% | x{c.point.ci[0]:.3f} to x{c.point.ci[1]:.3f} | "
                       f"{md_code(_short(c.first['commit']), True)} | "
                       f"{md_code(c.first['date'], True)} |")
    return "\n".join(out) + "\n"


def to_json(all_series, opt):
    def change(s, c):
        p = c.point
        return {"index": p.index, "ratio": p.ratio, "ci95": list(p.ci), "p_value": p.p_value,
                "before": p.before, "after": p.after, "direction": p.direction,
                "regression": c.regression, "new": c.new,
                "first_run": c.first["digest"], "commit": c.first["commit"],
                "date": c.first["date"], "previous_commit": c.last_before["commit"]}
    key = METRICS[opt.metric][0]

    def series(s):
        out = {"benchmark": s.benchmark["name"], "machine": s.machine["label"],
               "machine_fingerprint": s.machine["fingerprint"], "runs": s.runs,
               "ranks": s.benchmark.get("ranks") or 1,
               "weak": float(s.benchmark.get("weak") or 1.0),
               "cluster_hosts": s.machine.get("hosts")}
        if s.points:
            out["points"] = [{"run": p["digest"], "date": p["date"], "commit": p["commit"],
                              "value": p[key]} for p in s.points]
        out["changes"] = [change(s, c) for c in s.changes]
        return out
    return {"metric": opt.metric, "p_value": opt.p_value, "min_size": opt.min_size,
            "series": [series(s) for s in all_series]}
